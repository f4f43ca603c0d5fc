# nginx's stream module with ssl_preread: $ssl_preread_server_name mapped to
# the sink, the rest to a closed port (bench/peers/nginx.conf.in).
NGINX_STREAM=/usr/lib/nginx/modules/ngx_stream_module.so
target_check() {
	command -v nginx > /dev/null || { echo "nginx is not installed (make bench-deps)"; return 1; }
	[ -f "$NGINX_STREAM" ] || { echo "nginx's stream module is not installed (libnginx-mod-stream)"; return 1; }
}
target_start() {
	mkdir -p "$T/nginx"
	render "$PEERS/nginx.conf.in" "$T/nginx.conf"
	nginx -p "$T/nginx" -c "$T/nginx.conf" -e "$T/nginx.err" > "$T/nginx.out" 2>&1 &
	TARGET_PID=$!
}
target_version() {
	echo "$(nginx -v 2>&1 | sed 's/^nginx version: //') with libnginx-mod-stream $(dpkg-query -W -f='${Version}' libnginx-mod-stream 2>/dev/null)"
}
