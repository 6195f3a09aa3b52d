//! The Kubernetes recipe in docker/k8s cannot be applied here (no cluster),
//! so its structure is checked: an Indexed Job whose pod count, image, user,
//! seccomp setting and arguments fit together, and whose arguments vastar
//! itself accepts.

use clap::Parser;
use yaml_rust2::{Yaml, YamlLoader};

fn manifest() -> Yaml {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docker/k8s/vastar-job.yaml");
    let text = std::fs::read_to_string(path).expect("the manifest exists");
    let mut docs = YamlLoader::load_from_str(&text).expect("the manifest is valid YAML");
    assert_eq!(docs.len(), 1, "one document");
    docs.remove(0)
}

#[test]
fn the_job_is_indexed_and_runs_all_pods_at_once() {
    let job = manifest();
    assert_eq!(job["apiVersion"].as_str(), Some("batch/v1"));
    assert_eq!(job["kind"].as_str(), Some("Job"));
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    let (completions, parallelism) = (spec["completions"].as_i64(), spec["parallelism"].as_i64());
    assert!(completions.is_some_and(|n| n >= 2), "completions: {completions:?}");
    assert_eq!(completions, parallelism, "every pod must run at the same time");
    assert_eq!(spec["backoffLimit"].as_i64(), Some(0), "a failed generator is not rerun later");
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"].as_str(), Some("Never"));
    let anti = &pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0];
    assert_eq!(anti["topologyKey"].as_str(), Some("kubernetes.io/hostname"), "one generator per node");
    let labels = &spec["template"]["metadata"]["labels"];
    assert_eq!(anti["labelSelector"]["matchLabels"], *labels, "the anti-affinity selects the job's own pods");
    let seccomp = pod["securityContext"]["seccompProfile"]["type"].as_str();
    assert!(matches!(seccomp, Some("RuntimeDefault" | "Localhost" | "Unconfined")), "{seccomp:?}");
}

#[test]
fn the_container_runs_the_image_as_built_with_arguments_vastar_accepts() {
    let job = manifest();
    let pod = &job["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert!(container["image"].as_str().is_some_and(|i| i.contains("vastar")), "{:?}", container["image"]);
    // The image's user (docker/Dockerfile) is the one the pod asks for.
    let dockerfile = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docker/Dockerfile")).unwrap();
    let user = pod["securityContext"]["runAsUser"].as_i64().expect("runAsUser");
    let image_user = dockerfile.lines().find_map(|l| l.trim().strip_prefix("USER ")).expect("the Dockerfile sets USER");
    assert_eq!(image_user.split(':').next(), Some(user.to_string().as_str()), "Dockerfile USER {image_user}");
    let args: Vec<String> = container["args"]
        .as_vec()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string args").to_string())
        .collect();
    for needed in ["--start-at", "-o", "json", "--quiet"] {
        assert!(args.iter().any(|a| a == needed), "args lack {needed}: {args:?}");
    }
    let at = args.iter().position(|a| a == "--start-at").unwrap();
    assert_eq!(args[at + 1], "START_AT", "the placeholder the procedure replaces");
    // vastar parses the arguments once the placeholder is filled in.
    let filled = args.iter().map(|a| if a == "START_AT" { "2026-11-28T12:00:00Z" } else { a.as_str() });
    let cli =
        vastar::cli::Cli::try_parse_from(std::iter::once("vastar").chain(filled)).expect("vastar accepts the args");
    let url = cli.bench.url.clone().expect("a target URL");
    let config = cli.bench.to_config(&url).expect("the args are valid");
    assert_eq!(config.output, vastar::config::Output::Json);
    assert!(config.start_at.is_some());
    // The procedure fills the placeholder and collects logs by the job's label.
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docker/k8s/README.md")).unwrap();
    assert!(readme.contains("s/START_AT/") && readme.contains("vastar merge"));
    let name = job["metadata"]["name"].as_str().unwrap();
    assert!(readme.contains(&format!("job-name={name}")) && readme.contains(&format!("job/{name}")));
}
