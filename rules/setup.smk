# Setup: what a benchmark job needs, a build with a model.


# Builds are cached outside the experiment (keyed by source, flags and patches), so this job
# only builds when no such build exists; it always records what the binary says of itself.
# It runs on each machine: a native build is cached per node type, so machines of one node type
# share it.
rule build_llama:
    output:
        paths.BUILD,
    log:
        paths.BUILD_LOG,
    priority: SETUP_PRIORITY
    conda:
        "../envs/build.yaml"
    threads: build_threads
    resources:
        **SHARED_RESOURCES,
        mem_mb=build_mem_mb,
        runtime=res.BUILD_RUNTIME_MIN,
    params:
        build=build_params,
    script:
        "../scripts/build_llama.py"


# A given GGUF is described; a synthetic one is first written into the cache (keyed by its
# shape, quantization and quantizer), unless it is there already.
rule prepare_model:
    input:
        model_inputs,
    output:
        paths.MODEL,
    log:
        paths.MODEL_LOG,
    priority: SETUP_PRIORITY
    conda:
        "../envs/bench.yaml"
    threads: model_threads
    resources:
        **SHARED_RESOURCES,
        mem_mb=model_mem_mb,
        runtime=res.MODEL_RUNTIME_MIN,
    params:
        model=model_params,
    script:
        "../scripts/prepare_model.py"


# What a benchmark job runs: one build with one model (the job reads one small file).
rule bench_setup:
    input:
        build=paths.BUILD,
        model=paths.MODEL,
    output:
        paths.SETUP,
    log:
        paths.SETUP_LOG,
    priority: SETUP_PRIORITY
    conda:
        "../envs/bench.yaml"
    script:
        "../scripts/bench_setup.py"
