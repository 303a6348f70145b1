using Microsoft.Data.Sqlite;
using GuestAgent.Agent.Configuration;

namespace GuestAgent.Agent.Hosting;

/// <summary>Akka.Persistence.Sql configuration for the journal setting: SQLite or PostgreSQL, same code.</summary>
public static class JournalConfig
{
    public static string Hocon(JournalSettings journal)
    {
        var provider = journal.Provider == "postgresql" ? "PostgreSQL.15" : "SQLite.MS";
        var cs = Quote(journal.ConnectionString);
        // SQLite has a single writer: one journal connection at a time avoids SQLITE_BUSY.
        var parallelism = journal.Provider == "sqlite" ? 1 : 3;
        return $$"""
            # The ledger's events and snapshots under stable manifests (LedgerSerializer); "json"
            # (Akka's serializer id 1) also reads the rows written before them, whatever their
            # types are called now (LegacyJournalJsonSerializer).
            akka.actor {
              serializers {
                json = "GuestAgent.Agent.Ledger.Journal.LegacyJournalJsonSerializer, guest-agent"
                ledger = "GuestAgent.Agent.Ledger.Journal.LedgerSerializer, guest-agent"
              }
              serialization-bindings {
                "GuestAgent.Agent.Ledger.Events.ILedgerEvent, guest-agent" = ledger
                "GuestAgent.Agent.Ledger.Events.LedgerSnapshotV1, guest-agent" = ledger
              }
              serialization-identifiers {
                "GuestAgent.Agent.Ledger.Journal.LegacyJournalJsonSerializer, guest-agent" = 1
              }
            }
            # Akka fails a journal call after call-timeout (default 10 s) whether or not the write
            # lands, and a failed write restarts the ledger, stopping every run under it. A slow
            # disk, a stalled database or a paused VM (the timer fires the moment it resumes) is not
            # a fault: the database's own timeouts (SQLite's busy timeout and Npgsql's command
            # timeout, 30 s) report real ones, so Akka's only catches a driver that never returns.
            akka.persistence {
              journal-plugin-fallback {
                circuit-breaker.call-timeout = 300s
                recovery-event-timeout = 300s
              }
              snapshot-store-plugin-fallback.circuit-breaker.call-timeout = 300s
              journal {
                plugin = "akka.persistence.journal.sql"
                sql {
                  circuit-breaker.call-timeout = 300s
                  recovery-event-timeout = 300s
                  class = "Akka.Persistence.Sql.Journal.SqlWriteJournal, Akka.Persistence.Sql"
                  connection-string = {{cs}}
                  provider-name = "{{provider}}"
                  auto-initialize = true
                  parallelism = {{parallelism}}
                }
              }
              snapshot-store {
                plugin = "akka.persistence.snapshot-store.sql"
                sql {
                  circuit-breaker.call-timeout = 300s
                  class = "Akka.Persistence.Sql.Snapshot.SqlSnapshotStore, Akka.Persistence.Sql"
                  connection-string = {{cs}}
                  provider-name = "{{provider}}"
                  auto-initialize = true
                }
              }
            }
            """;
    }

    /// <summary>SQLite in WAL mode lets readers and the writer work at once; the mode sticks to the file.</summary>
    public static void Prepare(JournalSettings journal)
    {
        if (journal.Provider != "sqlite")
        {
            return;
        }
        var builder = new SqliteConnectionStringBuilder(journal.ConnectionString);
        var dir = Path.GetDirectoryName(Path.GetFullPath(builder.DataSource));
        if (dir is not null)
        {
            Directory.CreateDirectory(dir);
        }
        using var connection = new SqliteConnection(journal.ConnectionString);
        connection.Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode=WAL;";
        cmd.ExecuteNonQuery();
    }

    private static string Quote(string s) => "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
}
