using Strata.Blocks;
using Strata.Iscsi.Scsi;

namespace Strata.Iscsi.Tests.Session;

/// <summary>The SCSI target device the transport tests serve: one LUN over a block device.</summary>
internal static class TestExecutors
{
    public static IScsiTaskExecutor Create(IBlockDevice device) =>
        new ScsiTargetDevice([(0UL, new BlockLogicalUnit(device, new LogicalUnitIdentity("transport-test")))]);
}
