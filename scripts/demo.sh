#!/usr/bin/env bash
# Starts ttdm-sim and ttdm on 127.0.0.1 with the embedded SQLite database under var/, one demo
# channel and a few scripted customers, then waits; Ctrl-C stops both.
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."

sim_port=${TTDM_DEMO_SIM_PORT:-7071}
port=${TTDM_DEMO_PORT:-8080}
data=var
sim_url="http://127.0.0.1:$sim_port"
url="http://127.0.0.1:$port"
mkdir -p "$data"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "demo stopped"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

wait_for() { # url
  for _ in $(seq 1 100); do
    curl -fs "$1" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "not reachable: $1" >&2
  return 1
}
json_field() { # field, reads JSON on stdin; prints the string or number value
  sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p" | head -n 1
}

"$build/ttdm-sim" --port="$sim_port" >"$data/ttdm-sim.log" 2>&1 &
pids+=($!)
wait_for "$sim_url/sim/clock"

account=$(curl -fs -X POST "$sim_url/sim/accounts" -H 'Content-Type: application/json' \
  -d '{"business_id":"demo-business-0001","username":"demo_shop","display_name":"Demo Shop","region":"SG","origin":"app"}')
business_id=$(printf '%s' "$account" | json_field business_id)
token=$(printf '%s' "$account" | json_field access_token)

common=(--data_dir="$data" --tiktok_api_base="$sim_url/open_api/v1.3"
        --tiktok_auth_base="$sim_url/v2/auth/authorize/")
if [ ! -s "$data/demo-api-key" ]; then
  "$build/ttdm" apikey create --name demo "${common[@]}" >"$data/demo-api-key"
fi
key=$(cat "$data/demo-api-key")
"$build/ttdm" channel create --business-id "$business_id" --access-token "$token" "${common[@]}"

# The first start creates this admin (sign in with POST /api/v1/auth/login).
admin_password=${TTDM_DEMO_ADMIN_PASSWORD:-demo-admin-password}
"$build/ttdm" serve --port="$port" --sandbox=true --admin_password="$admin_password" \
  "${common[@]}" >"$data/ttdm.log" 2>&1 &
pids+=($!)
wait_for "$url/healthz"
curl -fs -X POST "$sim_url/open_api/v1.3/business/webhook/update/" -H 'Content-Type: application/json' \
  -d "{\"app_id\":\"ttdm-sandbox-app\",\"secret\":\"ttdm-sandbox-secret\",\"event_type\":\"DIRECT_MESSAGE\",\"callback_url\":\"$url/webhooks/tiktok\"}" >/dev/null

customer() { # username region text...
  local c id
  c=$(curl -fs -X POST "$sim_url/sim/customers" -H 'Content-Type: application/json' \
    -d "{\"business_id\":\"$business_id\",\"username\":\"$1\",\"region\":\"$2\"}")
  id=$(printf '%s' "$c" | json_field customer_id)
  shift 2
  for text in "$@"; do
    curl -fs -X POST "$sim_url/sim/customers/$id/messages" -H 'Content-Type: application/json' \
      -d "{\"type\":\"text\",\"text\":\"$text\"}" >/dev/null
  done
  echo "$id"
}
customer ayu_s SG "Hi! Is the blue tote still in stock?" "Can you ship to Jakarta?" >/dev/null
customer budi_id ID "Halo, my order #1042 has not arrived yet" >/dev/null
yuki=$(customer yuki_jp JP "Do you have a size chart?")
curl -fs -X POST "$sim_url/sim/customers/$yuki/messages" -H 'Content-Type: application/json' \
  -d '{"type":"share_post","text":"https://www.tiktok.com/@demo_shop/video/1"}' >/dev/null || true

cat <<INFO

ttdm demo is running.
  ttdm API        $url/api/v1/   (API key: $key)
  sign-in         admin@localhost / $admin_password (first start of $data only)
  TikTok sandbox  $sim_url        (ttdm-sim control API under /sim/)
  logs            $data/ttdm.log, $data/ttdm-sim.log

Try:
  curl -s -H "Authorization: Bearer $key" $url/api/v1/conversations
  curl -s -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \\
       -d '{"text":"Yes, it is in stock!"}' $url/api/v1/conversations/1/messages

Press Ctrl-C to stop.
INFO
while sleep 3600; do :; done
