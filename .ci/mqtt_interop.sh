#!/usr/bin/env bash
# MQTT interop stage: Oort against a real Mosquitto broker.
#  1. messages published with mosquitto_pub to the machine's broker
#     (127.0.0.1:1883, started here if it is not running) go through rule Q1
#     and arrive at mosquitto_sub;
#  2. a broker stopped in the middle of a stream and restarted: the rule
#     recovers and every QoS 1 message after the restart is delivered (on a
#     Mosquitto the test starts on its own port, so the machine's broker is
#     never stopped);
#  3. MQTT 5: mosquitto_pub -V mqttv5 -> rule with a v5 profile and a v5
#     sink -> mosquitto_sub -V mqttv5;
#  4. TLS: a Mosquitto the test starts with generated certificates (a TLS
#     listener and one requiring client certificates): the source reads
#     over mutual TLS, the sink publishes over TLS, a client without a
#     certificate is refused;
#  5. with OORT_MQTT_BENCH=1, MQTT throughput of Q1 beside a plain
#     mosquitto_pub -> mosquitto_sub pair through the same broker
#     (OORT_MQTT_N messages, default 200000; release build).
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v mosquitto >/dev/null || ! command -v mosquitto_pub >/dev/null || ! command -v mosquitto_sub >/dev/null; then
  echo "installing mosquitto and mosquitto-clients"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto mosquitto-clients >/dev/null
fi

broker_up() { (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; }
if ! broker_up; then
  echo "starting mosquitto on 127.0.0.1:1883"
  if [ -f /etc/mosquitto/mosquitto.conf ]; then
    mosquitto -d -c /etc/mosquitto/mosquitto.conf
  else
    mosquitto -d -p 1883
  fi
  for _ in $(seq 1 100); do broker_up && break; sleep 0.1; done
  broker_up || { echo "mosquitto did not start on 127.0.0.1:1883"; exit 1; }
fi

export OORT_MOSQUITTO=127.0.0.1:1883
cargo test --test mqtt -- --ignored --test-threads=1 --nocapture \
  mosquitto_pub_through_rule_to_mosquitto_sub \
  rule_recovers_after_a_broker_restart_without_losing_qos1_messages \
  mosquitto_v5_pub_through_rule_to_v5_sub \
  mosquitto_over_tls_and_mutual_tls

if [ "${OORT_MQTT_BENCH:-0}" = "1" ]; then
  OORT_MQTT_N="${OORT_MQTT_N:-200000}" cargo test --release --test mqtt -- --ignored --nocapture mqtt_throughput
fi
echo "mqtt interop: ok"
