using System.CommandLine;
using Strata.Cli;

var root = new RootCommand("Strata: replicated block storage for containers, served over iSCSI.")
{
    VersionCommand.Create(),
};

return await root.Parse(args).InvokeAsync();
