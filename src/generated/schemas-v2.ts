// GENERATED FILE: do not edit. Change the .avsc files and run `eddy schemas codegen`.
// Types of schemas/v2/*.avsc.
// Sources: schemas/v2/AirportHourDelay.avsc, schemas/v2/DelayStats.avsc, schemas/v2/Flight.avsc

/** Final delay statistics of one origin airport in one 1-hour event-time window. Version 2: delayed counts delays of 15 minutes or more (FAA), adds delayed_60 and share_delayed_60. */
export interface AirportHourDelay {
  airport: string;
  /** timestamp-millis: ms since the epoch. */
  window_start: number;
  /** timestamp-millis: ms since the epoch. */
  window_end: number;
  flights: number;
  delayed: number;
  total_delay: number;
  max_delay: number;
  avg_delay: number;
  /** Default: 0. */
  delayed_60: number;
  /** Default: 0. */
  share_delayed_60: number;
}

/** Delay aggregate of a group of flights (an airport-hour window, or a route). Delays in minutes. Version 2: delayed counts delays of 15 minutes or more (FAA), adds delayed_60 and share_delayed_60. */
export interface DelayStats {
  flights: number;
  /** Flights with delay >= 15 minutes. */
  delayed: number;
  total_delay: number;
  max_delay: number;
  avg_delay: number;
  /** Flights with delay >= 60 minutes. Default: 0. */
  delayed_60: number;
  /** delayed_60 / flights. Default: 0. */
  share_delayed_60: number;
}

/** One US domestic flight (vega-datasets flights-3m, Jan-Jun 2001). Version 2: adds source_row. */
export interface Flight {
  /** timestamp-millis: ms since the epoch. Scheduled departure, ms since epoch (local time read as UTC). */
  date: number;
  /** Arrival delay in minutes (negative: early). */
  delay: number;
  /** Miles. */
  distance: number;
  /** IATA code of the origin airport. */
  origin: string;
  /** IATA code of the destination airport. */
  destination: string;
  /** Row of flights-3m.parquet the flight was read from (0-based); null in records written with Flight version 1. Default: null. */
  source_row: number | null;
}
