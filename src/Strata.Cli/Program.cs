using System.CommandLine;
using Strata.Cli;
using Strata.Cli.Iscsi;

var root = new RootCommand("Strata: replicated block storage for containers, served over iSCSI.")
{
    IscsiCommand.Create(),
    VersionCommand.Create(),
};

return await root.Parse(args).InvokeAsync();
