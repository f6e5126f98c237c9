"""What chronodbg concludes from a recording: wait-for graphs, deadlocks, statistics, exports."""
