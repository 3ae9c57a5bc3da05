"""Migration from a ZKECO / ZKAccess 3.5 installation (docs/migration.md).

The legacy MySQL/MariaDB database is the `legacy` database alias; `LegacyRouter` sends the
unmanaged legacy models there and nothing else. Tools: `import_legacy_devices`,
`compare_legacy`, the optional legacy writer (acc_monitor_log rows for the old reports) and
the agent's shadow mode (the legacy service stays authoritative).
"""
