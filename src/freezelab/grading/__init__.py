"""Grading tools for instructors and learners: `freezelab release`, `freezelab grade`, `freezelab check`."""
