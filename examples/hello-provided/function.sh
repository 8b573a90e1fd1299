# The handler: gets the event JSON as $1, prints the response (logs go to stderr).
handler () {
  EVENT_DATA=$1
  echo "got event: $EVENT_DATA" 1>&2
  echo "{\"message\": \"Hello from a shell bootstrap!\", \"event\": $EVENT_DATA}"
}
