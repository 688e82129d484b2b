"""Assignment a3_finetuning_workflow: frozen BatchNorm, unfreezing, schedules, two phases."""
