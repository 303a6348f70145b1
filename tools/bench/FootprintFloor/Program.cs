using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;

// FootprintFloor runtime|akka|journal DIR: idles like the agent does (after the journal's
// first write and a recovery, for journal) and prints "ready" once it is there. What a process
// of each kind holds in memory is the floor under the agent's: tools/bench/footprint-floor.sh
// reads its RSS and PSS after the same settle time as the agent's.
var mode = args.FirstOrDefault() ?? "runtime";
ActorSystem? system = null;
switch (mode)
{
    case "runtime":
        break;
    case "akka":
        system = ActorSystem.Create("floor", "akka.loglevel = WARNING");
        system.ActorOf(Props.Create(() => new Idle()), "idle").Tell("hello");
        break;
    case "journal":
        var db = Path.Combine(args.ElementAtOrDefault(1) ?? Path.GetTempPath(), $"floor-{Environment.ProcessId}.db");
        system = ActorSystem.Create("floor", ConfigurationFactory.ParseString($$"""
            akka.loglevel = WARNING
            akka.persistence.journal.plugin = "akka.persistence.journal.sql"
            akka.persistence.journal.sql {
              class = "Akka.Persistence.Sql.Journal.SqlWriteJournal, Akka.Persistence.Sql"
              connection-string = "Data Source={{db}}"
              provider-name = "SQLite.MS"
              auto-initialize = true
            }
            akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.sql"
            akka.persistence.snapshot-store.sql {
              class = "Akka.Persistence.Sql.Snapshot.SqlSnapshotStore, Akka.Persistence.Sql"
              connection-string = "Data Source={{db}}"
              provider-name = "SQLite.MS"
              auto-initialize = true
            }
            """));
        var ledger = system.ActorOf(Props.Create(() => new OneEvent()), "ledger");
        await ledger.Ask<string>("write", TimeSpan.FromSeconds(60));
        break;
    default:
        Console.Error.WriteLine("usage: FootprintFloor runtime|akka|journal [DIR]");
        return 2;
}
Console.WriteLine("ready");
await Task.Delay(Timeout.Infinite);
return 0;

internal sealed class Idle : ReceiveActor
{
    public Idle() => ReceiveAny(_ => { });
}

/// <summary>A persistent actor that recovers and writes one event, as a ledger does at its first command.</summary>
internal sealed class OneEvent : ReceivePersistentActor
{
    public override string PersistenceId => "floor";

    public OneEvent()
    {
        Recover<string>(_ => { });
        Command<string>(_ =>
        {
            var sender = Sender;
            Persist("event", _ => sender.Tell("written"));
        });
    }
}
