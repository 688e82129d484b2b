"""Without a live kernel, an executed quiz notebook exported to HTML still shows questions and answers."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient
from nbconvert import HTMLExporter


@pytest.mark.slow
def test_executed_notebook_exports_readable_quiz(tmp_path, monkeypatch):
    monkeypatch.setenv("FREEZELAB_DATA_DIR", str(tmp_path / "data"))
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("from freezelab.quiz import show, flashcards"),
        nbformat.v4.new_code_cell('show(ids=["rg-mcq-meaning", "cnt-out-seq-elements"])'),
        nbformat.v4.new_code_cell('flashcards(topic="peft")'),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    # Like a notebook run and saved in JupyterLab, which by default does not save widget state.
    client = NotebookClient(nb, timeout=120, kernel_name="python3", store_widget_state=False,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    html, _ = HTMLExporter().from_notebook_node(nb)
    assert "What does <code>param.requires_grad = False</code> do?" in html
    assert "It deletes the parameter from the model" in html        # an option
    assert html.count("<details><summary>Answer</summary>") == 2    # one per quiz item, shown once
    assert "Run this cell to load the interactive quiz" in html
    assert '<strong>B.</strong> It deletes the parameter' in html     # options lettered like the answers
    assert '<pre class="freezelab-code"' in html and "<span style=" in html  # highlighted code
    assert "<details><summary>Back of the card</summary>" in html   # flashcards
    assert "Printed output" in html and "12 67" in html
