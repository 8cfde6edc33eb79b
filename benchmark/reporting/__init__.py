"""Reporting: the thesis tables beside the published numbers (``report``, ``tables``, ``paper``), the figures
(``figures``, ``plotting``), Figure 3.10 (``silence``), the listening clips (``listen``) and the HTML page
(``html``, ``htmlpage``). Imports scoring and everything below it (docs/architecture.md)."""
