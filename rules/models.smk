# A given GGUF is described; a synthetic one is first written into the cache (keyed by its
# shape, quantization and quantizer), unless it is there already.
rule prepare_model:
    input:
        model_inputs,
    output:
        f"{RESULTS}/models/{{model}}.json",
    log:
        f"{LOGS}/prepare_model/{{model}}.log",
    priority: SETUP_PRIORITY
    conda:
        "../envs/bench.yaml"
    threads: model_threads
    resources:
        mem_mb=model_mem_mb,
        runtime=res.MODEL_RUNTIME_MIN,
    params:
        model=model_params,
    script:
        "../scripts/prepare_model.py"
