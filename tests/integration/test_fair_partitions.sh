#!/usr/bin/env bash
# test_fair.sh on one redis-server with HANGTIGHT_PARTITIONS=6: A's
# backlog spreads over the 6 partitions, and B's job is among the next 2
# claims of the partition it went to (the weights part, a claim order in
# one partition, runs in test_fair.sh).
export HT_TEST_CLUSTER=0 HT_FAIR_PARTITIONS=6
source "$(dirname "$0")/test_fair.sh"
