/*
 * gatherd: command line, logging, config, then the workers.  Wiring only.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "gatherd.h"

static void
usage(FILE *fp)
{
	fprintf(fp, "usage: gatherd [-c file] [-t] [-f] [-d] [-V] [-h]\n"
	    "  -c file  configuration (default: $GATHERD_CONFIG or %s)\n"
	    "  -t       check the configuration and exit\n"
	    "  -f       stay in the foreground (always the case)\n"
	    "  -d       debug logging\n"
	    "  -V       print the version and exit\n"
	    "  -h       this help\n", SYSCONFDIR "/gatherd/gatherd.yaml");
}

int
main(int argc, char *argv[])
{
	struct gatherd_conf	*cf;
	const char		*file = getenv("GATHERD_CONFIG");
	char			*errbuf;
	int			 ch, test = 0, debug = 0;

	if (file == NULL || *file == '\0')
		file = SYSCONFDIR "/gatherd/gatherd.yaml";
	while ((ch = getopt(argc, argv, "c:tfdVh")) != -1) {
		switch (ch) {
		case 'c':
			file = optarg;
			break;
		case 't':
			test = 1;
			break;
		case 'f':
			break;
		case 'd':
			debug = 1;
			break;
		case 'V':
			printf("gatherd %s\n", PACKAGE_VERSION);
			return (0);
		case 'h':
			usage(stdout);
			return (0);
		default:
			usage(stderr);
			return (1);
		}
	}
	if (optind != argc) {
		usage(stderr);
		return (1);
	}
	log_init(debug, 0);
	errbuf = xmalloc(CONFIG_ERRBUF);
	errbuf[0] = '\0';
	if ((cf = config_load(file, errbuf, CONFIG_ERRBUF)) == NULL) {
		fprintf(stderr, "%s", errbuf);
		if (test)
			fprintf(stderr, "configuration check failed\n");
		free(errbuf);
		return (1);
	}
	free(errbuf);
	if (test) {
		printf("configuration OK\n");
		config_unref(cf);
		return (0);
	}
	if (upstream_global_init() == -1)
		fatalx("cannot initialise libcurl");
	worker_run_all(cf);
	upstream_global_cleanup();
	return (0);
}
