rule synthesize_model:
    input:
        quantizer_manifest,
    output:
        str(CACHE / "models" / "{model_key}" / "model.gguf"),
    log:
        "logs/synthesize_model/{model_key}.log",
    params:
        model=synthetic_params,
    threads: workflow.cores
    conda:
        "../envs/bench.yaml"
    script:
        "../scripts/synthesize_model.py"


rule describe_model:
    input:
        model_file,
    output:
        "results/{experiment}/models/{model}.json",
    log:
        "logs/{experiment}/describe_model/{model}.log",
    params:
        name=model_name,
    conda:
        "../envs/bench.yaml"
    script:
        "../scripts/describe_model.py"
