/*
 * deploy: builds the artifacts that install Defenders on a cluster: the Amazon ECS task definition
 * (RegisterTaskDefinition JSON), a CloudFormation template that runs it as a DAEMON service, and a
 * Kubernetes manifest (Namespace, ServiceAccount, Secret, DaemonSet) written with libyaml.
 *
 * Every generator validates its options first (they may come from an API request) and fails with
 * NULL or -EINVAL without output when one is out of bounds. The functions keep no state and are
 * safe from any thread. docs/deployment.md explains each field of the output.
 */
#ifndef GARRISON_DEPLOY_H
#define GARRISON_DEPLOY_H

#include <stddef.h>
#include <jansson.h>

#ifndef GARRISON_VERSION
#define GARRISON_VERSION "0.0.0"
#endif

#define DEPLOY_DEFAULT_PORT          8084
#define DEPLOY_DEFAULT_TASK_NAME     "pc-defender"
#define DEPLOY_DEFAULT_IMAGE         "garrison/defender:" GARRISON_VERSION
#define DEPLOY_DEFAULT_DOCKER_SOCKET "/var/run/docker.sock"
#define DEPLOY_DEFAULT_NAMESPACE     "twistlock"
#define DEPLOY_DEFAULT_DATA_DIR      "/var/lib/garrison"

/* Names used inside the generated artifacts (stable: documentation and upgrades rely on them). */
#define DEPLOY_CONTAINER_NAME   "garrison-defender"
#define DEPLOY_DAEMONSET_NAME   "garrison-defender-ds"
#define DEPLOY_SERVICE_ACCOUNT  "garrison-defender"
#define DEPLOY_SECRET_NAME      "garrison-install-bundle"
#define DEPLOY_SECRET_KEY       "install-bundle"

/* An ECS task definition may be at most 64 KiB; the bundle must leave room for the rest. */
#define DEPLOY_BUNDLE_MAX       (60 * 1024)

struct deploy_opts {
	const char *console_addr;   /* host/IP Defenders use to reach the Console (required) */
	int defender_port;          /* Defender channel port, 0 = DEPLOY_DEFAULT_PORT */
	const char *cluster;        /* "" or NULL = the Defender detects it from the cloud */
	const char *task_name;      /* ECS family, NULL/"" = DEPLOY_DEFAULT_TASK_NAME */
	const char *install_bundle; /* base64 INSTALL_BUNDLE (required, <= DEPLOY_BUNDLE_MAX) */
	const char *image;          /* Defender image, NULL/"" = DEPLOY_DEFAULT_IMAGE */
	const char *docker_socket;  /* NULL/"" = DEPLOY_DEFAULT_DOCKER_SOCKET */
	const char *namespace_;     /* Kubernetes namespace, NULL/"" = DEPLOY_DEFAULT_NAMESPACE */
	const char *data_dir;       /* host dir for Defender state, NULL/"" = DEPLOY_DEFAULT_DATA_DIR */
};

/* Checks every option (required ones present, names and paths well formed, sizes bounded).
 * Returns 0 or -EINVAL; on -EINVAL, when err is not NULL, a one-line reason goes into err. */
int deploy_opts_check(const struct deploy_opts *o, char *err, size_t errlen);

/* The ECS task definition (a RegisterTaskDefinitionRequest): family, EC2 only, host network and
 * PID namespaces, one privileged Defender container with its environment, and host volumes for
 * the data dir and the Docker socket. Returns a new reference, or NULL when the options are bad
 * (the reason is logged). */
json_t *deploy_ecs_taskdef(const struct deploy_opts *o);

/* The Kubernetes manifest as a multi-document YAML stream: Namespace (left out for the built-in
 * namespaces default and kube-*), ServiceAccount, Secret holding the install bundle, DaemonSet.
 * On success returns 0 and a malloc()ed NUL-terminated *yaml (caller frees) of *len bytes.
 * Returns -EINVAL for bad options, -ENOMEM or -EIO when the emitter fails. */
int deploy_daemonset_yaml(const struct deploy_opts *o, char **yaml, size_t *len);

/* A CloudFormation template for taskdef (borrowed; the output of deploy_ecs_taskdef or the
 * Console's ecs-task.json): an AWS::ECS::TaskDefinition with the same content under CloudFormation
 * property names, and an AWS::ECS::Service with SchedulingStrategy DAEMON and LaunchType EC2 on the
 * cluster named by the template parameter "Cluster" (its default is ecs_cluster when not NULL or
 * ""). Returns a new reference, or NULL when taskdef is not a task definition this can convert. */
json_t *deploy_ecs_cloudformation(json_t *taskdef, const char *ecs_cluster);

/* Writes a JSON value (objects, arrays, strings, numbers, booleans, null) as one YAML document
 * of stream; used for the manifest and exported for other YAML producers. docs is one JSON value
 * or, when multi is non-zero, an array whose elements become separate documents. Strings that a
 * YAML 1.1 reader would take for another type ("true", "0123", "") are quoted. Returns 0 with a
 * malloc()ed *yaml, or -EINVAL / -ENOMEM / -EIO. */
int deploy_yaml_emit(json_t *docs, int multi, char **yaml, size_t *len);

/*
 * Options of `garrison defender export ecs|daemonset`, parsed by deploy_export_args_parse so
 * that the CLI's parsing is testable from the library. Strings point into argv.
 */
enum deploy_export_kind { DEPLOY_EXPORT_ECS, DEPLOY_EXPORT_DAEMONSET };
enum deploy_export_format { DEPLOY_FORMAT_JSON, DEPLOY_FORMAT_CLOUDFORMATION, DEPLOY_FORMAT_YAML };

struct apiclient_opts;

struct deploy_export_args {
	enum deploy_export_kind kind;
	enum deploy_export_format format;
	const char *cluster;      /* NULL when not given */
	const char *task_name;    /* ECS only */
	const char *namespace_;   /* DaemonSet only */
	const char *console_addr; /* NULL = the host of --address */
	const char *output;       /* NULL = standard output */
	int help;                 /* --help was given: print help, do nothing else */
};

/* Parses argv[0..argc) (argv[0] is "ecs" or "daemonset") into a and the connection options into
 * conn (see apiclient_opt_parse). Returns 0, or -EINVAL with a one-line message in err for a usage
 * error. Does not read the environment or check the connection options (apiclient_opts_finish). */
int deploy_export_args_parse(int argc, char **argv, struct deploy_export_args *a,
			     struct apiclient_opts *conn, char *err, size_t errlen);

#endif
