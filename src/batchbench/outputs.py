"""The names of what the analysis makes, kept apart from the code that makes them: the workflow
reads them each time it is parsed (also in every cluster job), without importing pandas or
matplotlib."""

# results/<experiment>/analysis/<name>.parquet and .csv
TABLES = ["summary", "combinations", "n_kv_check", "prompt_phase", "generation_scaling", "saturation",
          "context_effects", "prompt_verdict", "scaling_verdict", "context_trends", "whole_run_check",
          "latency", "hardware", "perf_reconciliation", "failures", "drift", "measurement_quality",
          "perf_model", "perf_model_fit", "perf_model_validation", "perf_predictions", "roofline"]

# results/<experiment>/figures/<name>.png and .svg; captions in report/figures/<name>.rst
FIGURES = ["s_vs_b", "s_tg_vs_b", "t_tg_ratio", "t_pp_fit", "latency", "frontier", "s_heatmap", "bandwidth",
           "perf_model", "predictions", "roofline"]
