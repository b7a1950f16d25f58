// GENERATED FILE: do not edit. Change the .avsc files and run `eddy schemas codegen`.
// Types of avsc/*.avsc.
// Sources: avsc/Customer.avsc, avsc/Order.avsc

/** Avro record eddy.test.shop.Customer. */
export interface Customer {
  name: string;
  score: number;
  visits: number;
}

/** Avro enum eddy.test.shop.Status. */
export type Status = 'NEW' | 'PAID' | 'SHIPPED';

/** Avro record eddy.test.shop.Line. */
export interface Line {
  sku: string;
  quantity: number;
  /** decimal: two’s-complement big-endian unscaled value. */
  price: Buffer;
}

/** An order: every kind of Avro type codegen maps. */
export interface Order {
  /** uuid: a UUID. */
  id: string;
  /** timestamp-millis: ms since the epoch. When the order was placed. */
  placed: number;
  /** date: days since the epoch. */
  day: number;
  status: Status;
  lines: Line[];
  tags: Record<string, string>;
  /** Default: null. */
  note: string | null;
  /** Default: null. */
  payment: Status | Buffer | null;
  /** Default: false. */
  gift: boolean;
  weights: (number | null)[];
  /** Default: null. */
  previous: Line | null;
}
