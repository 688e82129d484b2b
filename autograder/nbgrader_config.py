"""nbgrader configuration for the freezelab course (this folder is the course root).

Plain nbgrader works here:  cd autograder && nbgrader generate_assignment a1_freezing_basics
                            nbgrader autograde a1_freezing_basics
"""

import os

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

HERE = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "freezelab"
c.CourseDirectory.root = HERE
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(HERE, "gradebook.db")
# FREEZELAB_DB_URL=postgresql://user@host/db: one gradebook shared by formgrader and `freezelab grade`.
# nbgrader runs in the course's environment, where freezelab is installed (its preprocessors below need it).
from freezelab.grading.ledger import engine_url  # noqa: E402
from freezelab.paths import db_url  # noqa: E402

c.CourseDirectory.db_url = engine_url(db_url() or c.CourseDirectory.db_url)
# Only the notebook is released; rubrics, specs and the hidden checks stay here.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]

# The grading kernel inherits this process's environment: put the hidden checks on its import path.
_paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
if HERE not in _paths:
    os.environ["PYTHONPATH"] = os.pathsep.join([HERE, *_paths])
os.environ.setdefault("MPLBACKEND", "Agg")  # plots in submissions must not need a display
os.environ.setdefault("OMP_NUM_THREADS", "2")  # small models; keep a shared grading machine responsive

# Execution: the kernel of the environment nbgrader runs in, a per-cell timeout, no hanging.
c.Execute.kernel_name = "python3"
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True

# torch and torchvision write warnings to stderr, and tqdm progress bars (freezelab.training.fit) go there
# too; nbgrader would score a test cell with any stderr as 0.
c.IgnorePattern.pattern = r"Warning|warn\(|\d+it/s\]|s/it\]|\d+%\|"
c.IgnorePattern.enabled = True

# A deleted or pasted-over test cell comes back from the gradebook instead of silently scoring 0.
c.OverwriteCells.add_missing_cells = True

# Students see failure messages, not the hidden checks' code (that lives in freezelab_checks/).
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.ClearHiddenTests.begin_test_delimeter = "BEGIN HIDDEN TESTS"
c.ClearHiddenTests.end_test_delimeter = "END HIDDEN TESTS"

# nbgrader's own "Generate feedback" never shows hidden test code or its tracebacks.
c.GenerateFeedback.preprocessors = ["nbgrader.preprocessors.GetGrades",
                                    "freezelab.grading.nbplugins.RedactHidden",
                                    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor"]

# formgrader shows the autograded notebook: each free-response answer is followed there by its rubric from
# rubrics/<assignment>.md (a plain markdown cell: no grade, no score change; RedactHidden keeps it out of
# feedback). nbgrader's own autograde steps, with that one added before the last check.
c.InsertRubrics.rubrics_dir = os.path.join(HERE, "rubrics")
c.Autograde.autograde_preprocessors = [
    "nbgrader.preprocessors.Execute", "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor", "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades", "nbgrader.preprocessors.AssignLatePenalties",
    "freezelab.grading.nbplugins.InsertRubrics", "nbgrader.preprocessors.CheckCellMetadata"]

# `freezelab grade` runs autograde with the Execute step replaced (command-line options, see
# freezelab.grading.nbplugins.AUTOGRADE_STEPS): no kernel runs there. Plain `nbgrader autograde` executes each
# notebook in a kernel and trusts it: a student's code can change its own verdicts that way.

c.GenerateAssignment.create_assignment = True
c.ExecutePreprocessor.kernel_name = "python3"
