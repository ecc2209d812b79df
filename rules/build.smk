# Builds are cached outside the experiment (keyed by source, flags and patches), so this job
# only builds when no such build exists; it always records what the binary says of itself.
rule build_llama:
    output:
        f"{RESULTS}/builds/{{build}}.json",
    log:
        f"{LOGS}/build_llama/{{build}}.log",
    priority: SETUP_PRIORITY
    conda:
        "../envs/build.yaml"
    threads: build_threads
    resources:
        mem_mb=build_mem_mb,
        runtime=res.BUILD_RUNTIME_MIN,
    params:
        build=build_params,
    script:
        "../scripts/build_llama.py"
