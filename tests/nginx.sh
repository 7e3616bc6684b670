# tests/nginx.sh: Debian's nginx as a real third-party upstream, confined to
# one directory.  Sourced (bash) by tests/lib.sh and bench/fanout.sh; it
# defines functions only and changes no shell options.
#
#	nginx_bin			print the nginx binary, or fail
#	nginx_write_conf DIR PORT...	write DIR/nginx.conf listening on each
#					127.0.0.1:PORT
#	nginx_launch DIR		start it in the background; sets
#					NGINX_PID (the caller waits and stops)
#
# nginx runs in the foreground as one process (daemon off, master_process
# off), with its pid, logs and every *_temp_path under DIR, so it needs no
# root, touches nothing outside DIR and stops on SIGTERM.  Locations:
#
#	/users/1	{"id":1,"name":"Ada","port":PORT}
#	/orders		[{"id":7,"total":12.5}]
#	/text		plain text (text/plain)
#	/empty		200 with an empty body
#	/echo/...	{"uri":"<raw request URI>"}
#	anything else	404 {"error":"not found"}

nginx_bin() {
	local n
	for n in "${NGINX:-}" /usr/sbin/nginx "$(command -v nginx 2>/dev/null)"; do
		if [ -n "$n" ] && [ -x "$n" ]; then
			printf '%s\n' "$n"
			return 0
		fi
	done
	return 1
}

nginx_write_conf() {
	local dir=$1 p
	shift
	mkdir -p "$dir/tmp"
	{
		cat <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events {
	worker_connections 4096;
}
http {
	access_log ${NGINX_ACCESS_LOG:-$dir/access.log};
	client_body_temp_path $dir/tmp/client_body;
	proxy_temp_path $dir/tmp/proxy;
	fastcgi_temp_path $dir/tmp/fastcgi;
	uwsgi_temp_path $dir/tmp/uwsgi;
	scgi_temp_path $dir/tmp/scgi;
	default_type application/json;
	keepalive_requests 1000000;
	keepalive_timeout 60s;
	server_tokens off;
	server {
EOF
		for p in "$@"; do
			printf '\t\tlisten 127.0.0.1:%s;\n' "$p"
		done
		cat <<'EOF'
		location = /users/1 {
			return 200 '{"id":1,"name":"Ada","port":$server_port}';
		}
		location = /orders {
			return 200 '[{"id":7,"total":12.5}]';
		}
		location = /text {
			default_type text/plain;
			return 200 'plain text';
		}
		location = /empty {
			return 200 '';
		}
		location /echo/ {
			return 200 '{"uri":"$request_uri"}';
		}
		location / {
			return 404 '{"error":"not found"}';
		}
	}
}
EOF
	} >"$dir/nginx.conf"
}

nginx_launch() {
	local dir=$1 bin
	bin=$(nginx_bin) || return 1
	# -e: the error log before the configuration is read, else nginx
	# tries its compiled-in /var/log/nginx/error.log first.
	"$bin" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" \
	    </dev/null >>"$dir/error.log" 2>&1 &
	NGINX_PID=$!
}
