using System.CommandLine;
using Spectre.Console;
using Strata.Pool;
using Strata.Pool.Space;

namespace Strata.Cli.Pool;

/// <summary><c>strata pool status</c>: the pool as <c>kubectl get cstorpools</c> shows it, its vdevs and its volumes.</summary>
internal static class PoolStatusCommand
{
    public static Command Create()
    {
        var pool = PoolArguments.PoolOption();
        var command = new Command("status", "Show a pool's space, health, vdevs, volumes and snapshots (read-only).") { pool };
        command.SetAction((parse, _) => PoolArguments.WithPoolAsync(parse.GetValue(pool)!, readOnly: true, p =>
        {
            Print(p);
            return Task.FromResult(0);
        }));
        return command;
    }

    private static void Print(StoragePool pool)
    {
        var console = AnsiConsole.Console;
        var summary = new Table().Border(TableBorder.None).AddColumns("NAME", "ALLOCATED", "FREE", "CAPACITY", "STATUS", "TYPE", "AGE");
        summary.AddRow(
            pool.Name,
            ByteSize.Format(pool.AllocatedBytes),
            ByteSize.Format(pool.FreeBytes),
            ByteSize.Format(pool.CapacityBytes),
            pool.Health == PoolHealth.Online ? "Healthy" : "Degraded",
            pool.Layout.ToString().ToLowerInvariant(),
            Age(DateTimeOffset.FromUnixTimeMilliseconds(pool.CreatedUnixMs)));
        console.Write(summary);
        Console.WriteLine();
        Console.WriteLine($"pool {pool.Id}, chunk size {ByteSize.Format(pool.ChunkSize)}, metadata {ByteSize.Format(pool.MetadataUsedBytes)} of {ByteSize.Format(pool.MaxCheckpointBytes)}{(pool.OvercommitLimitBytes is { } l ? $", overcommit limit {ByteSize.Format(l)}" : string.Empty)}");
        Console.WriteLine();

        var vdevs = new Table().Border(TableBorder.None).AddColumns("VDEV", "PATH", "SIZE", "STATE", "WHY");
        foreach (var v in pool.Vdevs)
        {
            vdevs.AddRow(v.Index.ToString(), Markup.Escape(v.Path), v.SizeBytes > 0 ? ByteSize.Format(v.SizeBytes) : "-", v.State.ToString(), Markup.Escape(v.FaultReason ?? string.Empty));
        }

        console.Write(vdevs);
        Console.WriteLine();

        var volumes = pool.ListVolumes();
        if (volumes.Count == 0)
        {
            Console.WriteLine("no volumes");
            return;
        }

        console.Write(VolumeTable(volumes, pool.ChunkSize));
    }

    internal static Table VolumeTable(IReadOnlyList<VolumeInfo> volumes, int chunkSize)
    {
        var table = new Table().Border(TableBorder.None).AddColumns("NAME", "KIND", "SIZE", "BLOCK", "REFERENCED", "UNIQUE", "ORIGIN", "AGE");
        foreach (var v in volumes)
        {
            table.AddRow(
                Markup.Escape(v.Name),
                v.Kind == VolumeKind.Snapshot ? "snapshot" : v.Origin is null ? "volume" : "clone",
                ByteSize.Format(v.SizeBytes),
                v.BlockSize.ToString(),
                ByteSize.Format(v.ReferencedChunks * chunkSize),
                ByteSize.Format(v.UniqueChunks * chunkSize),
                Markup.Escape(v.Origin ?? "-"),
                Age(v.Created));
        }

        return table;
    }

    /// <summary>kubectl's AGE: 45s, 12m, 3h, 5d.</summary>
    internal static string Age(DateTimeOffset since)
    {
        var age = DateTimeOffset.UtcNow - since;
        return age.TotalSeconds < 120 ? $"{Math.Max(0, (int)age.TotalSeconds)}s"
            : age.TotalMinutes < 120 ? $"{(int)age.TotalMinutes}m"
            : age.TotalHours < 48 ? $"{(int)age.TotalHours}h"
            : $"{(int)age.TotalDays}d";
    }
}
