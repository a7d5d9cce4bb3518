-- POST a 64 KiB body on every request (the echo scenario). The body is built once per wrk thread.
wrk.method = "POST"
wrk.body = string.rep("x", 64 * 1024)
wrk.headers["Content-Type"] = "application/octet-stream"
