"""Building blocks: shapes and the parameter formulas of models.md §0.10."""

from __future__ import annotations

import math

import pytest
import torch

from models import blocks


def n_params(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("c_in,expected", [(24, 78_120), (48, 104_040)])
def test_tfc_params_and_shape(c_in, expected):
    tfc = blocks.TFC(c_in)
    assert n_params(tfc) == expected == 216 * (5 * c_in + 240) + 360
    assert tfc(torch.randn(2, c_in, 8, 16)).shape == (2, 24, 8, 16)


def test_tfc_dense_connectivity_and_output_is_last_layer_only():
    tfc = blocks.TFC(3, growth=4, num_layers=3)
    assert [layer[0].in_channels for layer in tfc.layers] == [3, 7, 11]
    x = torch.randn(1, 3, 5, 6)
    # output = last layer applied to concat(y1, concat(y0, x))
    with torch.no_grad():
        tfc.eval()
        y0 = tfc.layers[0](x)
        h1 = torch.cat([y0, x], 1)
        y1 = tfc.layers[1](h1)
        y2 = tfc.layers[2](torch.cat([y1, h1], 1))
        assert torch.allclose(tfc(x), y2)


@pytest.mark.parametrize("f,u", [(1024, 64), (512, 32), (256, 16), (128, 16), (8, 16), (4, 16)])
def test_tdf_units_floor(f, u):
    assert blocks.tdf_units(f) == u


@pytest.mark.parametrize("f", [1024, 128, 4])
@pytest.mark.parametrize("bias,affine", [(False, False), (True, True), (False, True)])
def test_tdf_params(f, bias, affine):
    u = max(f // 16, 16)
    tdf = blocks.TDF(f, 24, bias=bias, affine=affine)
    assert n_params(tdf) == 2 * f * u + bias * (u + f) + affine * 96
    single = blocks.TDF(f, 24, bottleneck=False, bias=bias, affine=affine)
    assert n_params(single) == f * f + bias * f + affine * 48
    assert tdf(torch.randn(2, 24, 3, f)).shape == (2, 24, 3, f)


def test_tfc_tdf_residual_around_tdf_only():
    block = blocks.TFC_TDF(24, 32, bias=False, affine=True).eval()
    x = torch.randn(1, 24, 4, 32)
    with torch.no_grad():
        y = block.tfc(x)
        assert torch.allclose(block(x), y + block.tdf(y))


def test_sampling_and_io_conv_params():
    assert n_params(blocks.Down(24, 2)) == 2376 and n_params(blocks.Up(24, 2)) == 2376
    assert n_params(blocks.Down(24, 1)) == 1224 and n_params(blocks.Up(24, 1)) == 1224
    assert n_params(blocks.FirstConv(4)) == 264 and n_params(blocks.FirstConv(2)) == 168
    assert n_params(blocks.LastConv(24, 4)) == 196 and n_params(blocks.LastConv(24, 2)) == 98
    x = torch.randn(1, 4, 8, 1025)
    h = blocks.FirstConv(4)(x)
    assert h.shape == (1, 24, 8, 1024)
    assert blocks.LastConv(24, 4)(h).shape == (1, 4, 8, 1025)
    assert blocks.Down(24, 2)(h).shape == (1, 24, 4, 512)
    assert blocks.Down(24, 1)(h).shape == (1, 24, 8, 512)
    assert blocks.Up(24, 2)(blocks.Down(24, 2)(h)).shape == h.shape


@pytest.mark.parametrize("f,expected", [(1024, 2_753_856), (512, 689_472), (256, 173_376), (128, 44_352)])
def test_lasaft_code_params(f, expected):
    la = blocks.LaSAFT(f, 24, n_latent=6, d_k=32, cond_dim=32)
    u = max(6 * f // 16, 16)
    assert n_params(la) == expected == f * u + u * 6 * f + 96 + (32 * 32 + 32) + 32 * 6


@pytest.mark.parametrize("f,expected", [(1024, 623_840), (512, 181_472), (256, 70_880)])
def test_lasaft_compact_params(f, expected):
    la = blocks.LaSAFT(f, 24, n_latent=8, d_k=128, cond_dim=256, bottleneck="compact")
    assert n_params(la) == expected


def test_lasaft_is_attention_weighted_sum_of_latent_values():
    la = blocks.LaSAFT(16, 4, n_latent=3, d_k=8, cond_dim=5, min_units=4).eval()
    x, e = torch.randn(2, 4, 3, 16), torch.randn(2, 5)
    with torch.no_grad():
        v = la.value(x).reshape(2, 4, 3, 16, 3)  # latent index fastest
        a = torch.softmax(la.query(e) @ la.keys / math.sqrt(8), -1)
        ref = sum(a[:, k, None, None, None] * v[..., k] for k in range(3))
        assert torch.allclose(la(x, e), ref, atol=1e-6)
        assert torch.allclose(la.attention(e).sum(-1), torch.ones(2))


def test_film_pocm_gpocm():
    x = torch.randn(2, 3, 4, 5)
    g, b = torch.randn(2, 3), torch.randn(2, 3)
    assert torch.allclose(blocks.film(x, g, b), g[:, :, None, None] * x + b[:, :, None, None])
    w = torch.randn(2, 3, 3)
    y = blocks.pocm(x, w, b)
    ref = torch.stack([sum(w[:, i, o, None, None] * x[:, i] for i in range(3)) + b[:, o, None, None]
                       for o in range(3)], 1)
    assert torch.allclose(y, ref, atol=1e-5)
    assert torch.allclose(blocks.gpocm(x, w, b), torch.sigmoid(ref) * x, atol=1e-5)
    # identity PoCM
    assert torch.allclose(blocks.pocm(x, torch.eye(3).expand(2, 3, 3), torch.zeros(2, 3)), x)


def test_split_pocm_params_row_major():
    theta = torch.arange(2 * (6 + 3), dtype=torch.float32).reshape(2, 9)
    w, b = blocks.split_pocm_params(theta, 2, 3)
    assert w.shape == (2, 2, 3) and b.shape == (2, 3)
    assert w[0, 1, 0] == 3 and b[0, 0] == 6
    with pytest.raises(ValueError):
        blocks.split_pocm_params(theta, 3, 3)


def test_smpocm_formula_and_pass_through():
    c = 4
    v = torch.randn(2, c, 3, 5)
    ts, tm, ti = (torch.randn(2, c * c + c) for _ in range(3))
    w = lambda t: blocks.split_pocm_params(t, c, c)  # noqa: E731
    s = torch.sigmoid(blocks.pocm(v, *w(ts)))
    i = torch.sigmoid(blocks.pocm(v, *w(ti)))
    ref = i * torch.tanh(blocks.pocm(s * v, *w(tm))) + (1 - s) * v
    assert torch.allclose(blocks.smpocm(v, ts, tm, ti), ref, atol=1e-6)
    # a closed selection mask (s -> 0) with a bias-free manipulation PoCM passes V through unchanged
    closed = torch.cat([torch.zeros(2, c * c), torch.full((2, c), -1e4)], 1)
    tm0 = torch.cat([tm[:, : c * c], torch.zeros(2, c)], 1)
    assert torch.allclose(blocks.smpocm(v, closed, tm0, ti), v, atol=1e-6)


def test_channel_skip_attention():
    b, heads, t, f = 2, 6, 3, 16
    q, k, v = torch.randn(b, 24, t, f), torch.randn(b, 48, t, f), torch.randn(b, 48, t, f)
    y = blocks.channel_skip_attention(q, k, v, heads)
    assert y.shape == (b, 24, t, f)
    # head g, query channel 4g+r, frame t: softmax over the 8 latent channels 8g..8g+7
    g, r, tt = 1, 2, 1
    qv = q[:, 4 * g + r, tt]
    kk = k[:, 8 * g : 8 * g + 8, tt]
    a = torch.softmax(torch.einsum("bf,bmf->bm", qv, kk) / math.sqrt(f), -1)
    ref = torch.einsum("bm,bmf->bf", a, v[:, 8 * g : 8 * g + 8, tt])
    assert torch.allclose(y[:, 4 * g + r, tt], ref, atol=1e-5)
    with pytest.raises(ValueError):
        blocks.channel_skip_attention(torch.randn(1, 5, 1, 2), k[:1, :, :1, :2], v[:1, :, :1, :2], heads)


@pytest.mark.parametrize("modulation,expected", [("film", 128 + 44_224 + 37_008), ("gpocm", 128 + 44_224 + 462_600)])
def test_condition_generator(modulation, expected):
    gen = blocks.ConditionGenerator(modulation=modulation)
    assert n_params(gen) == expected
    e, params = gen(torch.tensor([0, 1, 2, 3]))
    assert e.shape == (4, 32) and len(params) == 3
    if modulation == "film":
        assert params[0][0].shape == (4, 24) and params[0][1].shape == (4, 24)
    else:
        assert params[0][0].shape == (4, 24, 24) and params[2][1].shape == (4, 24)
    x = torch.randn(4, 24, 2, 8)
    assert gen.modulate(x, params[1]).shape == x.shape


def test_description_encoder_lengths_mask_and_sentence_vector():
    enc = blocks.DescriptionEncoder().eval()
    assert n_params(enc) == 3_400 + 235_520
    tokens = torch.tensor([[28, 32, 0, 0], [23, 32, 1, 8]])
    lengths = torch.tensor([2, 4])
    w, mask, z = enc(tokens, lengths)
    assert w.shape == (2, 4, 256) and z.shape == (2, 256)
    assert mask.tolist() == [[True, True, False, False], [True, True, True, True]]
    assert torch.all(w[0, 2:] == 0)
    # padding does not change the features of the valid tokens
    w1, _, z1 = enc(tokens[:1, :2], lengths[:1])
    assert torch.allclose(w1[0], w[0, :2], atol=1e-6) and torch.allclose(z1[0], z[0], atol=1e-6)
    assert torch.allclose(z[1, :128], w[1, 3, :128]) and torch.allclose(z[1, 128:], w[1, 0, 128:])
    gru = blocks.DescriptionEncoder(rnn="gru")
    assert n_params(gru) == 3_400 + 2 * 3 * (128 * (100 + 128) + 2 * 128)


def test_glove_initialisation_from_local_file(tmp_path):
    vocab = ("<pad>", ",", "bass", "vocals", "zzz")
    path = tmp_path / "glove.txt"
    path.write_text("vocals 1 2 3\nthe 0 0 0\nbass -1 -2 -3\n")
    enc = blocks.DescriptionEncoder(vocab_size=5, word_dim=3, hidden=4)
    before = enc.embedding.weight.detach().clone()
    assert enc.init_from_glove(path, vocab) == 2
    w = enc.embedding.weight.detach()
    assert w[3].tolist() == [1, 2, 3] and w[2].tolist() == [-1, -2, -3]
    assert torch.equal(w[[0, 1, 4]], before[[0, 1, 4]])
    (tmp_path / "bad.txt").write_text("vocals 1 2\n")
    with pytest.raises(ValueError, match="expected 3"):
        enc.init_from_glove(tmp_path / "bad.txt", vocab)


def test_condition_weight_generator_params_and_masking():
    gen = blocks.ConditionWeightGenerator(256, 128, n_out=3, out_dim=2352)
    assert n_params(gen) == 976_400
    small = blocks.ConditionWeightGenerator(6, 4, n_out=2, out_dim=5)
    w = torch.randn(1, 3, 6)
    full = small(w, torch.tensor([[True, True, False]]))
    # garbage in masked positions has no effect
    w2 = w.clone()
    w2[0, 2] = 100.0
    masked = small(w2, torch.tensor([[True, True, False]]))
    assert all(torch.allclose(a, b) for a, b in zip(full, masked))
    assert len(full) == 2 and full[0].shape == (1, 5)


def test_aggregate_pocm():
    agg = blocks.AggregatePoCM(24, 4, 256, 128)
    assert n_params(agg) == 78_820
    x = torch.randn(2, 24, 3, 7)
    w = torch.randn(2, 5, 256)
    assert agg(x, w, torch.ones(2, 5, dtype=torch.bool)).shape == (2, 4, 3, 7)


def test_init_weights_xavier_and_kaiming():
    lin = torch.nn.Linear(400, 300)
    b = lin.bias.detach().clone()
    torch.manual_seed(0)
    blocks.init_weights(lin)
    assert abs(lin.weight.std().item() - math.sqrt(2 / 700)) < 0.01 * 1.5
    assert torch.equal(lin.bias, b)
    blocks.init_weights(lin, relu_output=True)
    assert abs(lin.weight.std().item() - math.sqrt(2 / 400)) < 0.005
