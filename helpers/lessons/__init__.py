"""The course layer: setup, the offline tasks, each lesson's demos; it imports helpers.finetune."""
