#!/bin/sh
# A tiny web app for the browser test: absolute paths, a cookie, a redirect,
# a Refresh header and a WebSocket, served by nc -ll -e.
read -r method path proto
key=
cookie=
while read -r line; do
  line=$(printf '%s' "$line" | tr -d '\r')
  [ -z "$line" ] && break
  case "$line" in
    [Ss]ec-[Ww]eb[Ss]ocket-[Kk]ey:*) key=$(echo "${line#*:}" | tr -d ' ') ;;
    [Cc]ookie:*) cookie=${line#*: } ;;
  esac
done
send() {
  printf 'HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %s\r\nConnection: close\r\n%b\r\n%s' "$1" "$2" "${#3}" "$4" "$3"
}
case "${path%%\?*}" in
/) send "200 OK" text/html "$(cat /app/index.html)" 'Set-Cookie: sess=abc; Path=/\r\n' ;;
/app.css) send "200 OK" text/css 'p{color:rgb(1, 2, 3)}' ;;
/api) send "200 OK" text/plain "api-ok cookie=[$cookie]" ;;
/go) send "302 Found" text/plain "" 'Location: /landed\r\n' ;;
/refresh) send "200 OK" text/plain "wait" 'Refresh: 0; url=/landed\r\n' ;;
/landed) send "200 OK" text/html "<p id=l>landed</p>" ;;
/ws)
  h=$(printf '%s' "${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11" | sha1sum | cut -c1-40)
  accept=$(printf "$(echo "$h" | sed 's/../\\x&/g')" | base64)
  printf 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n' "$accept"
  printf '\201\005ws-ok'
  sleep 3 ;;
*) send "404 Not Found" text/plain "no $path" ;;
esac
