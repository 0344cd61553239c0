using System.CommandLine;

namespace Strata.Cli.Iscsi;

internal static class IscsiCommand
{
    public static Command Create() => new("iscsi", "Serve block devices over iSCSI.")
    {
        IscsiServeCommand.Create(),
    };
}
