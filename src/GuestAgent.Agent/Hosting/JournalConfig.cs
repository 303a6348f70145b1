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
        var snapshots = Quote(SnapshotConnectionString(journal));
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
                  connection-string = {{snapshots}}
                  provider-name = "{{provider}}"
                  auto-initialize = true
                }
              }
            }
            """;
    }

    /// <summary>
    /// Where the ledger's snapshots live. With SQLite, a file of their own beside the journal's
    /// (journal.db: journal.snapshots.db): SQLite has one writer per file, and a snapshot written
    /// through the snapshot store's connection made the journal's next write find the file busy,
    /// which Microsoft.Data.Sqlite answers by retrying after a sleep: every snapshot held the
    /// binding's commands up by 150 to 300 ms. PostgreSQL: the same database.
    /// </summary>
    public static string SnapshotConnectionString(JournalSettings journal)
    {
        if (journal.Provider != "sqlite")
        {
            return journal.ConnectionString;
        }
        var builder = new SqliteConnectionStringBuilder(journal.ConnectionString);
        builder.DataSource = SnapshotFile(builder.DataSource);
        return builder.ConnectionString;
    }

    private static string SnapshotFile(string journalFile) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(journalFile)) ?? ".", Path.GetFileNameWithoutExtension(journalFile) + ".snapshots.db");

    /// <summary>
    /// SQLite in WAL mode lets readers and the writer work at once; the mode sticks to the file.
    /// A journal whose snapshots are still in its own file (written before they had a file of
    /// their own) has them copied over first: the events they stand for were deleted, so a
    /// ledger that did not find them would recover without those commands.
    /// Returns true when the journal did not exist before (an SQLite file created now): no ledger
    /// has anything to recover from it. PostgreSQL: false, whatever the database holds.
    /// </summary>
    public static bool Prepare(JournalSettings journal)
    {
        if (journal.Provider != "sqlite")
        {
            return false;
        }
        var builder = new SqliteConnectionStringBuilder(journal.ConnectionString);
        var file = Path.GetFullPath(builder.DataSource);
        var dir = Path.GetDirectoryName(file);
        if (dir is not null)
        {
            Directory.CreateDirectory(dir);
        }
        // Neither the journal nor a snapshot file: a state directory no ledger has written to.
        var created = !File.Exists(file) && !File.Exists(SnapshotFile(builder.DataSource));
        using var connection = new SqliteConnection(journal.ConnectionString);
        connection.Open();
        Execute(connection, "PRAGMA journal_mode=WAL;");
        var target = SnapshotFile(builder.DataSource);
        if (!File.Exists(target))
        {
            MoveSnapshots(connection, target);
        }
        using var snapshots = new SqliteConnection(SnapshotConnectionString(journal));
        snapshots.Open();
        Execute(snapshots, "PRAGMA journal_mode=WAL;");
        return created;
    }

    /// <summary>
    /// Copies the journal file's snapshot table, schema and rows, into a new file at
    /// <paramref name="target"/>, built beside it and renamed into place (a crash leaves either no
    /// file, and the copy is made again, or the whole one). The rows stay in the journal file,
    /// unread; a later version may drop them.
    /// </summary>
    private static void MoveSnapshots(SqliteConnection journal, string target)
    {
        var ddl = new List<string>();
        using (var cmd = journal.CreateCommand())
        {
            cmd.CommandText = "SELECT sql FROM sqlite_master WHERE tbl_name = 'snapshot' AND sql IS NOT NULL ORDER BY type DESC";
            using var reader = cmd.ExecuteReader();
            while (reader.Read())
            {
                ddl.Add(reader.GetString(0));
            }
        }
        if (ddl.Count == 0)
        {
            return;
        }
        var building = target + ".new";
        File.Delete(building);
        using (var copy = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = building, Pooling = false }.ConnectionString))
        {
            copy.Open();
            foreach (var statement in ddl)
            {
                Execute(copy, statement);
            }
        }
        Execute(journal, $"ATTACH DATABASE {QuoteSql(building)} AS moved");
        try
        {
            Execute(journal, "INSERT INTO moved.snapshot SELECT * FROM main.snapshot");
        }
        finally
        {
            Execute(journal, "DETACH DATABASE moved");
        }
        File.Move(building, target);
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var cmd = connection.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    private static string QuoteSql(string s) => "'" + s.Replace("'", "''") + "'";

    private static string Quote(string s) => "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
}
