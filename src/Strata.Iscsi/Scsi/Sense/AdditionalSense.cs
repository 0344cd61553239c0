namespace Strata.Iscsi.Scsi.Sense;

/// <summary>An additional sense code and qualifier pair (ASC/ASCQ, SPC-4 4.5.6 table 28).</summary>
public readonly record struct AdditionalSense(byte Asc, byte Ascq)
{
    public static readonly AdditionalSense NoAdditionalSense = new(0x00, 0x00);
    public static readonly AdditionalSense LogicalUnitNotReadyCauseNotReportable = new(0x04, 0x00);
    public static readonly AdditionalSense LogicalUnitNotAccessibleTransitioning = new(0x04, 0x0A);
    public static readonly AdditionalSense LogicalUnitNotReadySanitizeInProgress = new(0x04, 0x1B);
    public static readonly AdditionalSense UnreachableCopyTarget = new(0x08, 0x04);
    public static readonly AdditionalSense WriteError = new(0x0C, 0x00);
    public static readonly AdditionalSense CopyTargetDeviceNotReachable = new(0x0D, 0x02);
    public static readonly AdditionalSense UnrecoveredReadError = new(0x11, 0x00);
    public static readonly AdditionalSense MiscompareDuringVerify = new(0x1D, 0x00);
    public static readonly AdditionalSense ParameterListLengthError = new(0x1A, 0x00);
    public static readonly AdditionalSense InvalidCommandOperationCode = new(0x20, 0x00);
    public static readonly AdditionalSense AccessDeniedNoAccessRights = new(0x20, 0x02);
    public static readonly AdditionalSense LbaOutOfRange = new(0x21, 0x00);
    public static readonly AdditionalSense InvalidFieldInCdb = new(0x24, 0x00);
    public static readonly AdditionalSense LogicalUnitNotSupported = new(0x25, 0x00);
    public static readonly AdditionalSense InvalidFieldInParameterList = new(0x26, 0x00);
    public static readonly AdditionalSense InvalidReleaseOfPersistentReservation = new(0x26, 0x04);
    public static readonly AdditionalSense TooManyTargetDescriptors = new(0x26, 0x06);
    public static readonly AdditionalSense UnsupportedTargetDescriptorTypeCode = new(0x26, 0x07);
    public static readonly AdditionalSense TooManySegmentDescriptors = new(0x26, 0x08);
    public static readonly AdditionalSense UnsupportedSegmentDescriptorTypeCode = new(0x26, 0x09);
    public static readonly AdditionalSense OperationInProgress = new(0x00, 0x16);
    public static readonly AdditionalSense WriteProtected = new(0x27, 0x00);
    public static readonly AdditionalSense SoftwareWriteProtected = new(0x27, 0x02);
    public static readonly AdditionalSense SpaceAllocationFailedWriteProtect = new(0x27, 0x07);
    public static readonly AdditionalSense PowerOnResetOrBusDeviceReset = new(0x29, 0x00);
    public static readonly AdditionalSense BusDeviceResetFunctionOccurred = new(0x29, 0x03);
    public static readonly AdditionalSense ItNexusLossOccurred = new(0x29, 0x07);
    public static readonly AdditionalSense ModeParametersChanged = new(0x2A, 0x01);
    public static readonly AdditionalSense ReservationsPreempted = new(0x2A, 0x03);
    public static readonly AdditionalSense ReservationsReleased = new(0x2A, 0x04);
    public static readonly AdditionalSense RegistrationsPreempted = new(0x2A, 0x05);
    public static readonly AdditionalSense CommandsClearedByAnotherInitiator = new(0x2F, 0x00);
    public static readonly AdditionalSense SavingParametersNotSupported = new(0x39, 0x00);
    public static readonly AdditionalSense MediumNotPresent = new(0x3A, 0x00);
    public static readonly AdditionalSense MediumRemovalPrevented = new(0x53, 0x02);
    public static readonly AdditionalSense ReportedLunsDataHasChanged = new(0x3F, 0x0E);
    public static readonly AdditionalSense InternalTargetFailure = new(0x44, 0x00);
    public static readonly AdditionalSense SanitizeCommandFailed = new(0x31, 0x03);
}
