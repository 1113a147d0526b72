//! Helpers shared by the end-to-end tests: free ports, child processes that are
//! always stopped, and finding the real peers (Debian's Prometheus tools).
