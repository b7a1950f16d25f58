/** Schemas shared by the schema-layer tests. */
export const flightV1 = {
  type: 'record',
  name: 'Flight',
  namespace: 'eddy.test',
  fields: [
    { name: 'date', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'delay', type: 'int' },
    { name: 'distance', type: 'int' },
    { name: 'origin', type: 'string' },
    { name: 'destination', type: 'string' },
  ],
};

/** v1 plus an optional field with a default: compatible both ways. */
export const flightV2 = {
  ...flightV1,
  fields: [...flightV1.fields, { name: 'carrier', type: ['null', 'string'], default: null }],
};

/** v1 plus a field without a default: not BACKWARD-compatible. */
export const flightNoDefault = {
  ...flightV1,
  fields: [...flightV1.fields, { name: 'tailNumber', type: 'string' }],
};

/** v1 without `distance`: BACKWARD-compatible, not FORWARD-compatible. */
export const flightWithoutDistance = {
  ...flightV1,
  fields: flightV1.fields.filter((f) => f.name !== 'distance'),
};

export const flight = {
  date: 1_704_067_200_000,
  delay: -7,
  distance: 337,
  origin: 'SFO',
  destination: 'LAX',
};
