"""swift-plugin-trackers: ``--report_to wandb swanlab mlflow all`` through transformers' own integrations."""
