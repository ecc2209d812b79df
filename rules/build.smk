rule build_llama:
    output:
        str(CACHE / "llama.cpp" / "{build_key}" / "build.json"),
    log:
        "logs/build_llama/{build_key}.log",
    params:
        build=build_params,
        cache_dir=str(CACHE),
    threads: workflow.cores
    conda:
        "../envs/build.yaml"
    script:
        "../scripts/build_llama.py"


rule describe_build:
    input:
        built_manifest,
    output:
        "results/{experiment}/builds/{build}.json",
    log:
        "logs/{experiment}/describe_build/{build}.log",
    params:
        given=given_binaries,
    conda:
        "../envs/bench.yaml"
    script:
        "../scripts/describe_build.py"
