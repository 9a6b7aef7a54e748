#!/usr/bin/env bash
# test_cluster_failover.sh in durable mode (--wait-replicas 1): not one
# acknowledged job may be lost over the failover.  See that file's header.
HT_FAILOVER_DURABLE=1 exec bash "$(dirname "$0")/test_cluster_failover.sh"
