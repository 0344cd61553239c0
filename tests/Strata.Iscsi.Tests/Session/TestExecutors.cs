using Strata.Blocks;
using Strata.Iscsi.Scsi;
using Strata.Iscsi.Target;

namespace Strata.Iscsi.Tests.Session;

/// <summary>The SCSI target device the transport tests serve: one LUN over a block device.</summary>
internal static class TestExecutors
{
    public static IScsiTaskExecutor Create(IBlockDevice device) => new ProvisionalBlockExecutor(device);
}
