using System.CommandLine;

namespace Strata.Cli.Volumes;

/// <summary>
/// <c>strata volume</c>: a cluster's volumes (PersistentVolumes) through the control plane, as mayactl volume is for
/// OpenEBS. Not <c>strata pool volume</c>, which makes a volume in a pool file offline.
/// </summary>
internal static class VolumeCommand
{
    public static Command Create() => new("volume", "Inspect a cluster's volumes (PersistentVolumes) through the control plane.")
    {
        VolumeStatsCommand.Create(),
    };
}
