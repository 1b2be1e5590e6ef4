"""The website's sources: links rewritten for the site, lessons staged, executed copies current.

The site itself is built and checked in Chromium by `tests/test_site.py`.
"""

import doctest

import build_site
import executed_notebooks
import nbformat
import pytest

from helpers.lessons import course

ROOT = build_site.REPOSITORY_ROOT
DOCUMENTS = {
    "README.md": "index.md",
    "notebooks/01_lesson.ipynb": "notebooks/01_lesson.ipynb",
    "data/a_card.md": "data/a_card.md",
}


def rewritten(markdown: str, document: str = "README.md") -> str:
    return build_site.rewrite_links(markdown, document, DOCUMENTS, ROOT)[0]


@pytest.mark.parametrize(
    "module", [build_site, executed_notebooks], ids=lambda module: module.__name__
)
def test_docstring_examples_run(module):
    assert doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0


def test_links_to_pages_of_the_site_stay_relative():
    text = "[lesson](notebooks/01_lesson.ipynb) and [card](data/a_card.md#recipe)"
    assert rewritten(text) == text


def test_a_card_links_back_to_the_front_page_and_a_lesson():
    text = "[home](../README.md#quick-start), [lesson](../notebooks/01_lesson.ipynb)"
    expected = "[home](../index.md#quick-start), [lesson](../notebooks/01_lesson.ipynb)"
    assert rewritten(text, "data/a_card.md") == expected


def test_links_to_other_repository_files_point_at_the_repository_release():
    text = "[setup](helpers/lessons/course.py#L10) and [the scripts](scripts)"
    url = build_site.REPOSITORY_FILE_URL
    expected = f"[setup]({url}/helpers/lessons/course.py#L10) and [the scripts]({url}/scripts)"
    assert rewritten(text) == expected
    assert (
        url == f"https://github.com/gentle-fine-tuning/gentle-fine-tuning/blob/{course.COURSE_REF}"
    )


def test_anchors_other_sites_and_mail_are_left_alone():
    text = "[top](#lessons), [colab](https://colab.research.google.com/x), [mail](mailto:a@b.c)"
    assert rewritten(text) == text


def test_an_image_stays_relative_and_is_returned_for_copying(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "plot.png").write_bytes(b"png")
    text, images = build_site.rewrite_links(
        "![a plot](data/plot.png)", "README.md", DOCUMENTS, tmp_path
    )
    assert (text, images) == ("![a plot](data/plot.png)", ["data/plot.png"])


def test_a_link_to_a_missing_file_is_refused_with_its_target():
    with pytest.raises(
        ValueError, match=r"README\.md links to .*Received: \(notebooks/06\.ipynb\)"
    ):
        rewritten("[a lesson to come](notebooks/06.ipynb)")


def test_the_readme_cards_and_lessons_link_only_to_files_that_exist():
    documents = build_site.site_documents()
    for document in documents:
        if document.endswith(".md"):
            texts = [(ROOT / document).read_text(encoding="utf-8")]
        else:
            lesson = nbformat.read(ROOT / document, as_version=4)
            texts = [cell.source for cell in lesson.cells if cell.cell_type == "markdown"]
        for text in texts:
            build_site.rewrite_links(text, document, documents, ROOT)  # raises on a broken link


def lesson_with_a_widget() -> nbformat.NotebookNode:
    setup = nbformat.v4.new_code_cell("print('setup')", metadata={"tags": ["setup"]})
    widget = nbformat.v4.new_code_cell("build_explorer()")
    widget.outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={build_site.WIDGET_VIEW: {"model_id": "1"}, "text/plain": "VBox(...)"},
        )
    ]
    notebook = nbformat.v4.new_notebook(cells=[setup, widget])
    notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    return notebook


def test_staging_folds_the_setup_cell_and_turns_widgets_into_a_note():
    executed = lesson_with_a_widget()
    staged = build_site.stage_lesson(executed)
    assert staged.cells[0].metadata.tags == ["setup", "hide-input"]
    assert staged.cells[1].outputs[0].data["text/markdown"] == build_site.WIDGET_NOTE
    assert "widgets" not in staged.metadata
    assert executed.cells[0].metadata.tags == ["setup"]  # the executed copy is left as it was


def test_an_executed_copy_is_current_until_its_lesson_changes(tmp_path):
    lesson = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    lesson_path = tmp_path / "lesson.ipynb"
    nbformat.write(lesson, lesson_path)
    printed = nbformat.v4.new_output("stream", text="1\n")
    executed_path = tmp_path / "executed" / "lesson.ipynb"
    executed = executed_notebooks.executed_copy(lesson, {0: [printed]}, "fast")
    executed_notebooks.write_atomically(executed, executed_path)
    assert executed_notebooks.is_current(executed_path, lesson_path, "fast")
    assert not executed_notebooks.is_current(executed_path, lesson_path, "full")
    lesson.cells[0].source = "print(2)"
    nbformat.write(lesson, lesson_path)
    assert not executed_notebooks.is_current(executed_path, lesson_path, "fast")
    assert list(executed_path.parent.iterdir()) == [executed_path]  # no temporary file left


def test_the_kernel_gets_the_mode_and_plots_inline():
    environment = executed_notebooks.kernel_environment("full")
    assert environment["COURSE_FAST"] == "0"
    assert environment["MPLBACKEND"] == executed_notebooks.INLINE_BACKEND
    with pytest.raises(ValueError, match="Received: mode='quick'"):
        executed_notebooks.kernel_environment("quick")


def test_staging_shows_a_keras_progress_bar_at_its_last_state():
    cell = nbformat.v4.new_code_cell("model.fit(...)")
    pieces = [
        "Epoch 1/2\n",
        "\r1/4 ━━━━━ 0s - loss: 1.3",
        "\b" * 24 + "\r4/4 ━━━━━ 0s - loss: 1.2\n",
    ]
    cell.outputs = [nbformat.v4.new_output("stream", text=piece) for piece in pieces]
    cell.outputs.append(nbformat.v4.new_output("stream", name="stderr", text="a warning\n"))
    staged = build_site.stage_lesson(nbformat.v4.new_notebook(cells=[cell]))
    shown = [(output.name, output.text) for output in staged.cells[0].outputs]
    assert shown == [("stdout", "Epoch 1/2\n4/4 ━━━━━ 0s - loss: 1.2\n"), ("stderr", "a warning\n")]
