using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;
using Strata.Cli.Resources;
using Strata.Control;
using Strata.Control.Api;
using Strata.Control.Nodes;

namespace Strata.Cli.Volumes;

/// <summary>
/// <c>strata volume stats NAME</c>: like mayactl volume stats, the volume's portal and target, its read and write
/// IOPS, throughput and latency over the last reports, its totals, and its replicas.
/// </summary>
internal static class VolumeStatsCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("name") { Description = "The volume (PersistentVolume) name, e.g. pvc-…; `strata get pv` lists them." };
        var output = new Option<string?>("--output", "-o") { Description = "json: everything shown, as JSON." };
        output.AcceptOnlyFromAmong("json");
        var command = new Command("stats", "Show a volume's I/O (IOPS, throughput, average latency, totals), its target and its replicas.") { name, output };
        ServerOptions.AddTo(command);
        command.SetAction((parse, ct) => ServerOptions.RunAsync(parse, async client =>
        {
            var stats = await client.VolumeStatsAsync(parse.GetValue(name)!, ct);
            if (parse.GetValue(output) == "json")
            {
                Console.WriteLine(JsonSerializer.Serialize(stats, ResourceJson.IndentedOptions));
            }
            else
            {
                Print(AnsiConsole.Console, stats, DateTimeOffset.UtcNow);
            }

            return 0;
        }));
        return command;
    }

    internal static void Print(IAnsiConsole console, VolumeStats s, DateTimeOffset now)
    {
        Heading(console, "Portal Details");
        Field(console, "Volume", s.Volume);
        Field(console, "IQN", s.Iqn);
        Field(console, "Portal", s.Portal ?? "<none>");
        Field(console, "Target Node", s.TargetNode ?? "<none>");
        Field(console, "Size", ByteSize.Format(s.SizeBytes));
        Field(console, "Status", s.State);
        Field(console, "Epoch", s.Epoch.ToString(CultureInfo.InvariantCulture));
        Field(console, "Replica Count", $"{s.ReplicaCount} ({s.Replicas.Count(r => r.InSync)} in sync)");

        string window = s.Rates is { } r ? $"rates over {r.Seconds:0.0} s" : "rates after the target's next report";
        string since = ResourceColumns.AgeOf(TimeSpan.FromSeconds(s.Totals.Seconds));
        Heading(console, $"Performance Stats ({window}; totals since the target opened {since} ago; reported {ResourceColumns.AgeOf(now - s.SampledAt)} ago)");
        var io = Table("OP", "IOPS", "MiB/s", "AVG LATENCY (ms)", "TOTAL OPS", "TOTAL BYTES", "AVG LATENCY ALL (ms)");
        Row(io, "read", s.Totals.Reads, s.Rates?.Reads);
        Row(io, "write", s.Totals.Writes, s.Rates?.Writes);
        Row(io, "flush", s.Totals.Flushes, s.Rates?.Flushes, data: false);
        Row(io, "unmap", s.Totals.Unmaps, s.Rates?.Unmaps);
        console.Write(io);
        Field(console, "Errors", $"{s.Totals.Errors} (failed or aborted operations)");

        Heading(console, "Replica Stats");
        var replicas = Table("NAME", "NODE", "POOL", "STATUS", "IN SYNC");
        foreach (var replica in s.Replicas)
        {
            replicas.AddRow(Cells(replica.Name, replica.Node, replica.Pool, replica.Status, replica.InSync ? "yes" : "no"));
        }

        console.Write(replicas);
    }

    private static void Heading(IAnsiConsole console, string title)
    {
        console.WriteLine();
        console.WriteLine($"{title} :");
        console.WriteLine(new string('-', title.Length + 2));
    }

    private static void Field(IAnsiConsole console, string label, string value) => console.WriteLine($"{label,-18}:  {value}");

    /// <summary>One operation's row: the window's rates ("-" before there are two samples), then its totals. A flush moves no data.</summary>
    private static void Row(Table table, string op, IoOpCounts total, IoOpRate? rate, bool data = true)
    {
        string Rate(Func<IoOpRate, string> f) => rate is null ? "-" : f(rate);
        table.AddRow(Cells(
            op,
            Rate(x => x.PerSecond.ToString("0.#", CultureInfo.InvariantCulture)),
            data ? Rate(x => (x.BytesPerSecond / (1 << 20)).ToString("0.000", CultureInfo.InvariantCulture)) : "-",
            Rate(x => x.AverageMilliseconds.ToString("0.000", CultureInfo.InvariantCulture)),
            total.Count.ToString(CultureInfo.InvariantCulture),
            data ? ByteSize.Format(total.Bytes) : "-",
            (total.Count == 0 ? 0 : total.Seconds * 1000 / total.Count).ToString("0.000", CultureInfo.InvariantCulture)));
    }

    /// <summary>A table as `strata get` prints them: no borders, three spaces between columns.</summary>
    private static Table Table(params string[] headers)
    {
        var table = new Table().Border(TableBorder.None);
        foreach (string h in headers)
        {
            table.AddColumn(new TableColumn(h).PadLeft(0).PadRight(h == headers[^1] ? 0 : 3));
        }

        return table;
    }

    private static string[] Cells(params string[] values) => values.Select(Markup.Escape).ToArray();
}
