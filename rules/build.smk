# Builds are cached outside the experiment (keyed by source, flags and patches), so this job
# only builds when no such build exists; it always records what the binary says of itself.
# It runs on each machine: a native build is cached per node type, so machines of one node type
# share it.
rule build_llama:
    output:
        "results/{experiment}/builds/{machine}{build}.json",
    log:
        "logs/{experiment}/build_llama/{machine}{build}.log",
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
