using System.CommandLine;

namespace Strata.Cli.Pool;

/// <summary><c>strata pool</c>: offline commands on pool files (docs/pool-engine.md).</summary>
internal static class PoolCommand
{
    public static Command Create() => new("pool", "Create, inspect, check and repair storage pools, and manage their volumes and snapshots (offline: the pool must not be in use).")
    {
        PoolCreateCommand.Create(),
        PoolStatusCommand.Create(),
        PoolCheckCommand.Create(),
        PoolReplaceCommand.Create(),
        VolumeCommands.Volume(),
        VolumeCommands.List(),
        VolumeCommands.Snapshot(),
        VolumeCommands.Clone(),
        VolumeCommands.Revert(),
        VolumeCommands.Grow(),
        VolumeCommands.Delete(),
    };
}
