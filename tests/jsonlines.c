/*
 * jsonlines: check that every line of a file is one JSON object, for the
 * access log scenarios (a scenario is bash, and python is not something a
 * fresh Debian has).  Each object is printed back on one line in compact
 * form, members in their order and non-ASCII characters as \u escapes,
 * so that the scenario can compare lines exactly; duplicate members are
 * refused.  Exit 0 when every line is an
 * object, 1 (with the line number and jansson's reason) otherwise.
 *
 *	jsonlines FILE
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

int
main(int argc, char *argv[])
{
	json_error_t	 err;
	json_t		*j;
	FILE		*fp;
	char		*line = NULL, *out;
	size_t		 cap = 0;
	ssize_t		 len;
	long		 n = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: jsonlines FILE\n");
		return (2);
	}
	if ((fp = fopen(argv[1], "r")) == NULL) {
		perror(argv[1]);
		return (1);
	}
	while ((len = getline(&line, &cap, fp)) != -1) {
		n++;
		if (len == 0 || line[len - 1] != '\n') {
			fprintf(stderr, "%s:%ld: no newline at the end\n",
			    argv[1], n);
			return (1);
		}
		j = json_loadb(line, (size_t)len, JSON_REJECT_DUPLICATES, &err);
		if (j == NULL || !json_is_object(j)) {
			fprintf(stderr, "%s:%ld: not a JSON object: %s\n",
			    argv[1], n, j == NULL ? err.text : "other type");
			return (1);
		}
		if ((out = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII)) ==
		    NULL)
			return (1);
		printf("%s\n", out);
		free(out);
		json_decref(j);
	}
	free(line);
	fclose(fp);
	return (0);
}
