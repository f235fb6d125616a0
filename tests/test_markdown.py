"""The one Markdown/figure helper every stage's tables and charts go through."""

import base64

from alslm_ml import markdown


def test_table_header_alignment_and_cells():
    md = markdown.table(["source", "documents", "share"], [["pubmed", "1,000", "81.2%"], ["wiki", 7, None]], "lrr")
    assert md.splitlines() == ["| source | documents | share |", "|---|---:|---:|",
                               "| pubmed | 1,000 | 81.2% |", "| wiki | 7 | None |"]


def test_table_defaults_to_left_alignment_and_allows_no_rows():
    assert markdown.table(["a", "b"], []) == "| a | b |\n|---|---|"
    assert markdown.table(["a", "b"], [], "r").splitlines()[1] == "|---:|---|"


def test_png_markdown_and_figure_png_round_trip():
    plt = markdown.pyplot()
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [1, 0])
    png = markdown.figure_png(fig, dpi=50)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert fig.number not in plt.get_fignums()  # the figure was closed
    md = markdown.png_markdown(png, "loss curves")
    assert md.startswith("![loss curves](data:image/png;base64,")
    assert base64.b64decode(md.split(",", 1)[1].rstrip(")")) == png
