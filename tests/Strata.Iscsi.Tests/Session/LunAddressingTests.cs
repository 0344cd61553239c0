using Strata.Iscsi.Session;
using Xunit;

namespace Strata.Iscsi.Tests.Session;

public sealed class LunAddressingTests
{
    // SAM-5 4.7.7: peripheral device addressing (00b) for LUNs below 256, flat space (01b) above.
    [Theory]
    [InlineData(0x0000_0000_0000_0000UL, 0UL)]
    [InlineData(0x0005_0000_0000_0000UL, 5UL)]
    [InlineData(0x4123_0000_0000_0000UL, 0x123UL)]
    public void Decodes_peripheral_and_flat_addressing(ulong field, ulong lun)
    {
        Assert.Equal(lun, IscsiConnection.DecodeLun(field));
    }

    [Fact]
    public void Other_addressing_methods_name_no_logical_unit()
    {
        Assert.Equal(ulong.MaxValue, IscsiConnection.DecodeLun(0x8001_0000_0000_0000UL));
        Assert.Equal(ulong.MaxValue, IscsiConnection.DecodeLun(0xC001_0000_0000_0000UL));
    }

    [Theory]
    [InlineData(0UL)]
    [InlineData(255UL)]
    [InlineData(256UL)]
    [InlineData(16383UL)]
    public void Encoding_round_trips(ulong lun)
    {
        Assert.Equal(lun, IscsiConnection.DecodeLun(IscsiConnection.EncodeLun(lun)));
    }
}
