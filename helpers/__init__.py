"""Helper modules for the Gentle Fine-Tuning course: one concept per module.

Lessons import modules and call through them (`course.setup()`, `gradient_descent.run(...)`),
so a reader always sees where a name lives.
"""
