using System.Buffers.Binary;
using Strata.Iscsi.Scsi.Sense;

namespace Strata.Iscsi.Scsi.PersistentReservations;

/// <summary>
/// PERSISTENT RESERVE OUT (SPC-4 6.15, 5.13.5-5.13.11): REGISTER, RESERVE, RELEASE, CLEAR, PREEMPT, PREEMPT AND
/// ABORT, REGISTER AND IGNORE EXISTING KEY, REGISTER AND MOVE.
/// </summary>
internal static class PersistentReserveOut
{
    private const byte Register = 0x00;
    private const byte Reserve = 0x01;
    private const byte Release = 0x02;
    private const byte Clear = 0x03;
    private const byte Preempt = 0x04;
    private const byte PreemptAndAbort = 0x05;
    private const byte RegisterAndIgnoreExistingKey = 0x06;
    private const byte RegisterAndMove = 0x07;

    public static ValueTask Execute(BlockLogicalUnit unit, ScsiTask task)
    {
        var cdb = task.Cdb.Span;
        int serviceAction = cdb[1] & 0x1F;
        int scope = cdb[2] >> 4;
        int type = cdb[2] & 0x0F;
        uint listLength = BinaryPrimitives.ReadUInt32BigEndian(cdb[5..]);
        if (serviceAction > RegisterAndMove)
        {
            unit.Fail(task, SenseData.InvalidFieldInCdb(1, 4));
            return default;
        }

        // SPC-4 6.15.3: 24 bytes of parameters, except REGISTER AND MOVE which carries a TransportID.
        var data = task.DataOut.Span;
        if (serviceAction == RegisterAndMove ? listLength < 24 : listLength != 24)
        {
            unit.Fail(task, SenseData.ParameterListLengthError);
            return default;
        }

        if (data.Length < listLength)
        {
            unit.Fail(task, SenseData.ParameterListLengthError);
            return default;
        }

        data = data[..(int)listLength];
        ulong key = BinaryPrimitives.ReadUInt64BigEndian(data);
        ulong serviceKey = BinaryPrimitives.ReadUInt64BigEndian(data[8..]);
        var state = unit.Reservations;
        var nexus = task.Nexus;
        lock (state.Gate)
        {
            if (state.ReservedBy is { } owner && !owner.Equals(nexus))
            {
                task.Status = ScsiStatus.ReservationConflict;
                return default;
            }

            switch (serviceAction)
            {
                case Register:
                case RegisterAndIgnoreExistingKey:
                    DoRegister(unit, task, data, key, serviceKey, serviceAction == RegisterAndIgnoreExistingKey);
                    break;
                case Reserve:
                    if (CheckTypeAndScope(unit, task, scope, type))
                    {
                        DoReserve(unit, task, key, (PersistentReservationType)type);
                    }

                    break;
                case Release:
                    if (CheckTypeAndScope(unit, task, scope, type))
                    {
                        DoRelease(unit, task, key, (PersistentReservationType)type);
                    }

                    break;
                case Clear:
                    DoClear(unit, task, key);
                    break;
                case Preempt:
                case PreemptAndAbort:
                    if (CheckTypeAndScope(unit, task, scope, type))
                    {
                        DoPreempt(unit, task, key, serviceKey, (PersistentReservationType)type);
                    }

                    break;
                default:
                    if (CheckTypeAndScope(unit, task, scope, type))
                    {
                        DoRegisterAndMove(unit, task, data, key, serviceKey, (PersistentReservationType)type);
                    }

                    break;
            }
        }

        return default;
    }

    private static bool CheckTypeAndScope(BlockLogicalUnit unit, ScsiTask task, int scope, int type)
    {
        if (scope != 0)
        {
            unit.Fail(task, SenseData.InvalidFieldInCdb(2, 7));
            return false;
        }

        if (type is not (1 or 3 or 5 or 6 or 7 or 8))
        {
            unit.Fail(task, SenseData.InvalidFieldInCdb(2, 3));
            return false;
        }

        return true;
    }

    private static void Conflict(ScsiTask task) => task.Status = ScsiStatus.ReservationConflict;

    private static void Done(ReservationState state, ScsiTask task, bool bumpGeneration)
    {
        if (bumpGeneration)
        {
            state.Generation++;
        }

        task.Status = ScsiStatus.Good;
    }

    private static void DoRegister(BlockLogicalUnit unit, ScsiTask task, ReadOnlySpan<byte> data, ulong key, ulong serviceKey, bool ignoreKey)
    {
        var state = unit.Reservations;
        // SPEC_I_PT, ALL_TG_PT and APTPL are not supported (REPORT CAPABILITIES says so).
        if ((data[20] & 0x0D) != 0)
        {
            unit.Fail(task, SenseData.InvalidFieldInParameterList(20, (data[20] & 0x08) != 0 ? 3 : (data[20] & 0x04) != 0 ? 2 : 0));
            return;
        }

        var existing = state.Find(task.Nexus);
        if (existing is null)
        {
            // SPC-4 5.13.7: an unregistered nexus must send reservation key 0 unless it ignores the key.
            if (!ignoreKey && key != 0)
            {
                Conflict(task);
                return;
            }

            if (serviceKey != 0)
            {
                state.Registrations.Add(new Registration(task.Nexus, serviceKey));
            }

            Done(state, task, bumpGeneration: true);
            return;
        }

        if (!ignoreKey && key != existing.Key)
        {
            Conflict(task);
            return;
        }

        int index = state.Registrations.IndexOf(existing);
        if (serviceKey != 0)
        {
            state.Registrations[index] = existing with { Key = serviceKey };
            Done(state, task, bumpGeneration: true);
            return;
        }

        // Unregister (SPC-4 5.13.11.3).
        state.Registrations.RemoveAt(index);
        if (state.Type is { } type)
        {
            bool allRegistrants = ReservationState.IsAllRegistrants(type);
            if ((!allRegistrants && task.Nexus.Equals(state.Holder)) || (allRegistrants && state.Registrations.Count == 0))
            {
                state.ClearReservation();
                if (ReservationState.IsRegistrantsOnly(type))
                {
                    foreach (var other in state.RegisteredNexusesExcept(task.Nexus))
                    {
                        unit.UnitAttentions.Establish(other, AdditionalSense.ReservationsReleased);
                    }
                }
            }
        }

        Done(state, task, bumpGeneration: true);
    }

    private static void DoReserve(BlockLogicalUnit unit, ScsiTask task, ulong key, PersistentReservationType type)
    {
        var state = unit.Reservations;
        var registration = state.Find(task.Nexus);
        if (registration is null || registration.Key != key)
        {
            Conflict(task);
            return;
        }

        if (state.Type is { } current)
        {
            // SPC-4 5.13.9: the holder may re-reserve with the same type; anything else conflicts.
            if (state.IsHolder(task.Nexus) && current == type)
            {
                Done(state, task, bumpGeneration: false);
            }
            else
            {
                Conflict(task);
            }

            return;
        }

        state.SetReservation(task.Nexus, type);
        Done(state, task, bumpGeneration: false);
    }

    private static void DoRelease(BlockLogicalUnit unit, ScsiTask task, ulong key, PersistentReservationType type)
    {
        var state = unit.Reservations;
        var registration = state.Find(task.Nexus);
        if (registration is null || registration.Key != key)
        {
            Conflict(task);
            return;
        }

        // SPC-4 5.13.11.2: no reservation, or held by another nexus: nothing to do.
        if (state.Type is not { } current || !state.IsHolder(task.Nexus))
        {
            Done(state, task, bumpGeneration: false);
            return;
        }

        if (current != type)
        {
            unit.Fail(task, SenseData.IllegalRequest(AdditionalSense.InvalidReleaseOfPersistentReservation));
            return;
        }

        state.ClearReservation();
        if (current is not (PersistentReservationType.WriteExclusive or PersistentReservationType.ExclusiveAccess))
        {
            foreach (var other in state.RegisteredNexusesExcept(task.Nexus))
            {
                unit.UnitAttentions.Establish(other, AdditionalSense.ReservationsReleased);
            }
        }

        Done(state, task, bumpGeneration: false);
    }

    private static void DoClear(BlockLogicalUnit unit, ScsiTask task, ulong key)
    {
        var state = unit.Reservations;
        var registration = state.Find(task.Nexus);
        if (registration is null || registration.Key != key)
        {
            Conflict(task);
            return;
        }

        // SPC-4 5.13.11.6: every other registrant learns its registration and the reservation went.
        foreach (var other in state.RegisteredNexusesExcept(task.Nexus))
        {
            unit.UnitAttentions.Establish(other, AdditionalSense.ReservationsPreempted);
        }

        state.Registrations.Clear();
        state.ClearReservation();
        Done(state, task, bumpGeneration: true);
    }

    private static void DoPreempt(BlockLogicalUnit unit, ScsiTask task, ulong key, ulong serviceKey, PersistentReservationType type)
    {
        var state = unit.Reservations;
        var registration = state.Find(task.Nexus);
        if (registration is null || registration.Key != key)
        {
            Conflict(task);
            return;
        }

        if (state.Type is { } current && ReservationState.IsAllRegistrants(current) && serviceKey == 0)
        {
            // SPC-4 5.13.11.4.3: preempting an all-registrants reservation with key 0 removes every other
            // registration and reserves with the new type.
            RemoveRegistrations(unit, task.Nexus, r => true);
            state.SetReservation(task.Nexus, type);
            Done(state, task, bumpGeneration: true);
            return;
        }

        if (serviceKey == 0)
        {
            unit.Fail(task, SenseData.InvalidFieldInParameterList(8));
            return;
        }

        bool holderPreempted = state.Type is { } t && !ReservationState.IsAllRegistrants(t)
            && state.Holder is { } holder && state.Find(holder)?.Key == serviceKey;
        int removed = RemoveRegistrations(unit, task.Nexus, r => r.Key == serviceKey);
        if (holderPreempted)
        {
            var old = state.Type!.Value;
            state.SetReservation(task.Nexus, type);
            if (old != type)
            {
                foreach (var other in state.RegisteredNexusesExcept(task.Nexus))
                {
                    unit.UnitAttentions.Establish(other, AdditionalSense.ReservationsReleased);
                }
            }
        }
        else if (removed == 0)
        {
            // SPC-4 5.13.11.4.4: nothing registered with that key.
            Conflict(task);
            return;
        }

        Done(state, task, bumpGeneration: true);
    }

    private static int RemoveRegistrations(BlockLogicalUnit unit, ItNexus keep, Func<Registration, bool> match)
    {
        var state = unit.Reservations;
        int removed = 0;
        for (int i = state.Registrations.Count - 1; i >= 0; i--)
        {
            var r = state.Registrations[i];
            if (!r.Nexus.Equals(keep) && match(r))
            {
                state.Registrations.RemoveAt(i);
                unit.UnitAttentions.Establish(r.Nexus, AdditionalSense.RegistrationsPreempted);
                removed++;
            }
        }

        return removed;
    }

    private static void DoRegisterAndMove(BlockLogicalUnit unit, ScsiTask task, ReadOnlySpan<byte> data, ulong key, ulong serviceKey, PersistentReservationType type)
    {
        var state = unit.Reservations;
        var registration = state.Find(task.Nexus);
        if (registration is null)
        {
            Conflict(task);
            return;
        }

        if (registration.Key != key)
        {
            Conflict(task);
            return;
        }

        // SPC-4 5.13.8: only the holder of a non-all-registrants reservation may move it.
        if (state.Type is not { } current || ReservationState.IsAllRegistrants(current) || !task.Nexus.Equals(state.Holder))
        {
            Conflict(task);
            return;
        }

        if (serviceKey == 0)
        {
            unit.Fail(task, SenseData.InvalidFieldInParameterList(8));
            return;
        }

        if ((data[17] & 0x01) != 0)
        {
            unit.Fail(task, SenseData.InvalidFieldInParameterList(17, 0)); // APTPL unsupported
            return;
        }

        bool unregister = (data[17] & 0x02) != 0;
        ushort relativeTargetPort = BinaryPrimitives.ReadUInt16BigEndian(data[18..]);
        uint idLength = BinaryPrimitives.ReadUInt32BigEndian(data[20..]);
        if (24 + idLength > data.Length)
        {
            unit.Fail(task, SenseData.ParameterListLengthError);
            return;
        }

        if (!TransportId.TryParse(data.Slice(24, (int)idLength), out string name, out long isid, out _) || isid < 0)
        {
            unit.Fail(task, SenseData.InvalidFieldInParameterList(24));
            return;
        }

        var destination = new ItNexus(name, (ulong)isid, task.Nexus.TargetName, ScsiTargetDevice.TpgtOf(relativeTargetPort, task.Nexus));
        if (destination.Equals(task.Nexus))
        {
            unit.Fail(task, SenseData.InvalidFieldInParameterList(24));
            return;
        }

        var existing = state.Find(destination);
        if (existing is not null)
        {
            state.Registrations[state.Registrations.IndexOf(existing)] = existing with { Key = serviceKey };
        }
        else
        {
            state.Registrations.Add(new Registration(destination, serviceKey));
        }

        state.SetReservation(destination, type);
        if (unregister)
        {
            state.Registrations.Remove(registration);
        }

        Done(state, task, bumpGeneration: true);
    }
}
